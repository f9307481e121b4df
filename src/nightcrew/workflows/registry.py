"""Importing this module registers every workflow with DBOS (before launch)."""

from nightcrew.workflows import crm_sync, delivery, followup, inbound, lead, stage, sweeps

__all__ = ["crm_sync", "delivery", "followup", "inbound", "lead", "stage", "sweeps"]
