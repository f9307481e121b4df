"""The human review queue."""
