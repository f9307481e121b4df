"""What a channel transport is: one small Protocol per external system."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundMessage:
    """A message ready to leave: the transport needs nothing else."""

    idempotency_key: str
    tenant: str
    channel: str
    to: str
    body: str
    language: str
    contact_external_id: str
    subject: str | None = None
    purpose: str = "outreach"
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The message as the JSON every transport writes or posts."""
        return {
            "idempotency_key": self.idempotency_key,
            "tenant": self.tenant,
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "language": self.language,
            "contact_external_id": self.contact_external_id,
            "purpose": self.purpose,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class Delivery:
    """What the transport reports back."""

    transport: str
    provider_message_id: str | None = None
    status: str = "sent"


class Transport(Protocol):
    """Hands a message to the outside world. Must be safe to call twice with the same key."""

    name: str

    def send(self, message: OutboundMessage) -> Delivery: ...
