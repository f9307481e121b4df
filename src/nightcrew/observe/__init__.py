"""Audit log, logging, tracing, metrics."""
