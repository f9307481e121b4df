"""Importing this module registers every workflow with DBOS (before launch)."""

from nightcrew.workflows import delivery, followup, inbound, lead, stage, sweeps

__all__ = ["delivery", "followup", "inbound", "lead", "stage", "sweeps"]
