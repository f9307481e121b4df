"""The outbox rules: record the intent first, then send with its idempotency key, then record the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from nightcrew.channels.base import Delivery, OutboundMessage, Transport
from nightcrew.channels.models import Message
from nightcrew.channels.repository import OutboxRepository
from nightcrew.channels.twilio import TwilioStatus
from nightcrew.crm.models import Contact
from nightcrew.errors import ChannelError
from nightcrew.observe import audit
from nightcrew.observe.metrics import MESSAGES_SENT, SEND_FAILURES
from nightcrew.observe.tracing import send_span
from nightcrew.playbook.schemas import Playbook


@dataclass(frozen=True)
class Address:
    """Where a message goes: the logical channel and the contact's address on it."""

    channel: str
    to: str


def choose_address(contact: Contact, playbook: Playbook, preferred: str | None = None) -> Address | None:
    """The first channel in the playbook's preference (or the one asked for) the contact can be reached on."""
    order = [preferred] if preferred else []
    order += [c for c in playbook.channels.preference if c != preferred]
    for channel in order:
        if channel in ("sms", "whatsapp") and contact.phone:
            return Address(channel, contact.phone)
        if channel == "email" and contact.email:
            return Address(channel, contact.email)
    return None


def idempotency_key(workflow_id: str, step: str) -> str:
    """The key a send carries: stable across retries and crashes because both parts are."""
    return f"{workflow_id}:{step}"


def outbound(message: Message, tenant_slug: str, contact_external_id: str) -> OutboundMessage:
    """What the transport needs from an outbox row."""
    return OutboundMessage(
        idempotency_key=message.idempotency_key,
        tenant=tenant_slug,
        channel=message.channel,
        to=message.to_address,
        body=message.body,
        language=message.language,
        contact_external_id=contact_external_id,
        subject=message.subject,
        purpose=message.purpose,
        metadata={
            "message_id": message.id,
            "plan": message.plan,
            "template": message.template,
            "variant": message.variant,
            "segment": message.segment,
            "path": message.path,
        },
    )


def transmit(transport: Transport, message: OutboundMessage) -> Delivery:
    """Hand one message to its transport, counting successes and failures, in a span of its own."""
    with send_span(message.channel, transport.name, message.metadata.get("message_id"), message.idempotency_key):
        try:
            delivery = transport.send(message)
        except ChannelError:
            SEND_FAILURES.labels(channel=message.channel, transport=transport.name).inc()
            raise
    MESSAGES_SENT.labels(channel=message.channel, transport=transport.name).inc()
    return delivery


def mark_sent(session: Session, message: Message, contact: Contact, delivery: Delivery, now: datetime) -> None:
    """Record that the message left."""
    message.status = "sent"
    message.sent_at = now
    message.transport = delivery.transport
    message.provider_message_id = delivery.provider_message_id
    message.attempts = (message.attempts or 0) + 1
    message.error = None
    message.updated_at = now
    contact.last_outbound_at = now
    contact.updated_at = now
    session.flush()


def mark_failed(session: Session, message: Message, error: str, now: datetime) -> None:
    """Record that every attempt to send failed."""
    message.status = "failed"
    message.error = error
    message.attempts = (message.attempts or 0) + 1
    message.updated_at = now
    session.flush()


def record_intent(session: Session, tenant_id: int, message: Message) -> Message:
    """Store the message we intend to send (once per idempotency key)."""
    return OutboxRepository(session, tenant_id).insert_once(message)


def record_delivery_status(session: Session, tenant_id: int, status: TwilioStatus, now: datetime) -> Message | None:
    """Move the outbox row forward with the provider's report; a failure is surfaced in the audit log."""
    outbox = OutboxRepository(session, tenant_id)
    message = outbox.by_idempotency_key(status.idempotency_key) if status.idempotency_key else None
    message = message or outbox.by_provider_id(status.message_sid)
    if message is None or not status.advances(message.delivery_status):
        return message
    message.delivery_status, message.delivery_updated_at = status.status, now
    message.delivery_error_code = str(status.error_code) if status.error_code is not None else None
    if message.provider_message_id is None:
        message.provider_message_id = status.message_sid
    if status.failed:
        audit.record(
            session,
            tenant_id,
            kind="message.undelivered",
            step="delivery.status",
            now=now,
            contact_id=message.contact_id,
            event_key=message.event_key,
            dedupe_key=f"message:{message.id}:delivery:{status.status}",
            input={"message_id": message.id, "provider_message_id": status.message_sid},
            output={"status": status.status, "error_code": status.error_code, "permanent": status.permanent},
            reason=f"the provider could not deliver it ({status.status}, error {status.error_code}: "
            f"{status.error_message or 'no detail'})"
            + ("; the address will not work again: fix the contact" if status.permanent else ""),
        )
    return message
