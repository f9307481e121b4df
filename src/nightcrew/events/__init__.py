"""Event schemas, the event log, webhook adapters."""
