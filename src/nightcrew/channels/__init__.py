"""Outbound channels and the outbox."""
