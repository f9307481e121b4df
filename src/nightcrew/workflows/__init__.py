"""DBOS workflows and queues: one workflow per event, a readable script of named steps."""
