"""Importing this module registers every workflow with DBOS (before launch)."""

from nightcrew.workflows import delivery, inbound, lead, stage, sweeps

__all__ = ["delivery", "inbound", "lead", "stage", "sweeps"]
