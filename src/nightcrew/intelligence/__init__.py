"""Learned models: lead segments, intents, language."""
