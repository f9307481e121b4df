"""Contacts, pipeline stages, stage history and follow-up due-times."""
