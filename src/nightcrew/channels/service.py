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
from nightcrew.crm.repository import ContactRepository
from nightcrew.errors import ChannelError
from nightcrew.observe import audit
from nightcrew.observe.metrics import MESSAGES_SENT, SEND_FAILURES
from nightcrew.observe.tracing import send_span
from nightcrew.playbook.schemas import Playbook
from nightcrew.review.service import ReviewService


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
        address = address_on(contact, channel)
        if address is not None:
            return address
    return None


def address_on(contact: Contact, channel: str) -> Address | None:
    """The contact's address on ``channel``, if it has one."""
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


def transmit(
    transport: Transport, message: OutboundMessage, *, attempt: int = 0, max_attempts: int | None = None
) -> Delivery:
    """Hand one message to its transport, counting successes and failures, in a span of its own.

    ``attempt`` (from 0) and ``max_attempts`` (the playbook's ``channels.delivery.max_send_attempts``) make the
    last allowed try's failure final: it is raised as not retryable, so the send step stops retrying there.
    """
    with send_span(message.channel, transport.name, message.metadata.get("message_id"), message.idempotency_key):
        try:
            delivery = transport.send(message)
        except ChannelError as exc:
            SEND_FAILURES.labels(channel=message.channel, transport=transport.name).inc()
            if exc.retryable and max_attempts is not None and attempt + 1 >= max_attempts:
                raise ChannelError(
                    f"{exc.message} (try {attempt + 1} of the playbook's max_send_attempts {max_attempts})",
                    retryable=False,
                    details=exc.details,
                ) from exc
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


def redelivery_key(idempotency_key: str, channel: str) -> str:
    """The idempotency key of the one copy of an undelivered message sent on ``channel``: derived, so stable."""
    return f"{idempotency_key}:redeliver:{channel}"


def next_address(contact: Contact, playbook: Playbook, failed: str) -> Address | None:
    """The channel after ``failed`` in the playbook's preference (wrapping round) that reaches the contact."""
    preference = list(playbook.channels.preference)
    at = preference.index(failed) if failed in preference else len(preference)
    for channel in [*preference[at + 1 :], *preference[:at]]:
        address = address_on(contact, channel)
        if address is not None:
            return address
    return None


def record_delivery_status(
    session: Session, tenant_id: int, status: TwilioStatus, now: datetime, *, playbook: Playbook | None = None
) -> Message | None:
    """Move the outbox row forward with the provider's report; a failure is handled per the playbook's
    ``channels.delivery.on_undelivered`` (without a playbook: surfaced)."""
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
        _undelivered(session, tenant_id, outbox, message, status, now, playbook)
    return message


def _undelivered(
    session: Session,
    tenant_id: int,
    outbox: OutboxRepository,
    message: Message,
    status: TwilioStatus,
    now: datetime,
    playbook: Playbook | None,
) -> None:
    """Surface the failure; send one copy, or put one before a person, when the playbook says so."""
    wanted = playbook.channels.delivery.on_undelivered if playbook is not None else "surface"
    detail = f"{status.status}, error {status.error_code}: {status.error_message or 'no detail'}"
    copy: Message | None = None
    why = ""
    if (message.plan_context or {}).get("redelivery_of") is not None:
        why = "it was already the one copy of an undelivered message: not tried again"
    elif wanted == "retry_once" and status.permanent:
        why = "the address will not work again: not retried"
    elif wanted in ("retry_once", "review"):
        state = "review" if wanted == "review" else "deferred"
        copy = _redelivery(outbox, message, Address(message.channel, message.to_address), state, now)
    elif wanted == "next_channel" and playbook is not None:
        contact = ContactRepository(session, tenant_id).get(message.contact_id)
        address = next_address(contact, playbook, message.channel) if contact is not None else None
        if address is None:
            why = f"no channel other than {message.channel} reaches the contact"
        else:
            copy = _redelivery(outbox, message, address, "deferred", now)
    message.error, message.updated_at = f"not delivered ({detail})", now
    if copy is None:
        done, outcome = "surface", "surfaced for the operator" + (f": {why}" if why else "")
    elif wanted == "review":
        assert playbook is not None
        done, outcome = "review", f"copy #{copy.id} waits for a person to approve or reject it"
        ReviewService().open(
            session,
            tenant_id,
            contact_id=message.contact_id,
            kind="message",
            reasons=[f"delivery: message #{message.id} was not delivered ({detail}); send it again?"],
            now=now,
            deadline_hours=playbook.review.deadline_hours,
            dedupe_key=f"message:{copy.id}:review",
            draft=copy.body,
            message_id=copy.id,
            workflow_id=copy.workflow_id,
            event_key=copy.event_key,
            context={
                "language": copy.language,
                "plan": copy.plan,
                "purpose": copy.purpose,
                "redelivery_of": message.id,
            },
        )
    else:
        done, outcome = wanted, f"copy #{copy.id} goes once on {copy.channel} after the guardrails pass it again"
    audit.record(
        session,
        tenant_id,
        kind="message.undelivered",
        step="delivery.status",
        now=now,
        contact_id=message.contact_id,
        event_key=message.event_key,
        dedupe_key=f"message:{message.id}:delivery:{status.status}",
        input={"message_id": message.id, "provider_message_id": status.message_sid, "on_undelivered": wanted},
        output={
            "status": status.status,
            "error_code": status.error_code,
            "permanent": status.permanent,
            "action": done,
            "copy_message_id": copy.id if copy is not None else None,
            "copy_idempotency_key": copy.idempotency_key if copy is not None else None,
        },
        reason=f"the provider could not deliver it ({detail})"
        + ("; the address will not work again: fix the contact" if status.permanent else "")
        + f"; {outcome} (playbook on_undelivered: {wanted})",
    )


def _redelivery(outbox: OutboxRepository, message: Message, address: Address, status: str, now: datetime) -> Message:
    """The one copy of an undelivered message: its own outbox row and key, checked again before it goes."""
    return outbox.insert_once(
        Message(
            contact_id=message.contact_id,
            event_key=message.event_key,
            workflow_id=message.workflow_id,
            idempotency_key=redelivery_key(message.idempotency_key, address.channel),
            purpose=message.purpose,
            channel=address.channel,
            to_address=address.to,
            language=message.language,
            plan=message.plan,
            template=message.template,
            source=message.source,
            # The cold-lead clock started with the original; the channel is pinned for the re-check.
            plan_context={
                **(message.plan_context or {}),
                "redelivery_of": message.id,
                "redelivery_channel": address.channel,
                "follow_up": False,
            },
            variant=message.variant,
            segment=message.segment,
            stage=message.stage,
            path=message.path,
            subject=message.subject,
            body=message.body,
            status=status,
            # Due now: the sweep releases it through the guardrails again (consent, hours, caps) and sends it.
            send_after=now if status == "deferred" else None,
            created_at=now,
            updated_at=now,
        )
    )
