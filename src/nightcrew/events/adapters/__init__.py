"""Inbound webhooks from other systems: verify the signature, then map the payload to nightcrew events."""
