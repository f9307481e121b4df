"""Steps every workflow shares: start and finish an event, deliver a message, schedule a follow-up."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from dbos import DBOS

from nightcrew.channels.repository import OutboxRepository
from nightcrew.channels.service import mark_failed, mark_sent, outbound, transmit
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.errors import ChannelError, NotFound
from nightcrew.events.repository import EventRepository
from nightcrew.observe import audit
from nightcrew.observe.metrics import EVENTS
from nightcrew.playbook.schemas import MAX_SEND_ATTEMPTS
from nightcrew.workflows.runtime import container, current_traceparent, step


def workflow_id() -> str:
    """The running workflow's id (outside a workflow: an error)."""
    wid = DBOS.workflow_id
    if wid is None:
        raise RuntimeError("not inside a workflow")
    return wid


def _retryable_send(error: BaseException) -> bool:
    return isinstance(error, ChannelError) and error.retryable


def adopt_trace(tenant_id: int, event_key: str) -> None:
    """Join the trace the event was received under, before the first step opens its span.

    A read, not a side effect: the event's traceparent never changes, so a recovered workflow reads the same one.
    """
    c = container()
    with transaction(c.sessions) as session:
        event = EventRepository(session, tenant_id).by_key(event_key)
        current_traceparent.set(event.traceparent if event is not None else None)


@step("event.begin")
def begin_event(tenant_id: int, event_key: str) -> dict[str, Any]:
    """Mark the event as processing and return what the workflow needs from it."""
    c = container()
    now = c.clock.now()
    with transaction(c.sessions) as session:
        events = EventRepository(session, tenant_id)
        event = events.by_key(event_key)
        if event is None:
            raise NotFound(f"event {event_key!r} not found")
        events.set_status(event_key, "processing", now)
        return {
            "type": event.type,
            "payload": event.payload,
            "traceparent": event.traceparent,
            "trace_id": event.trace_id,
            "occurred_at": event.occurred_at.isoformat(),
        }


@step("event.finish")
def finish_event(tenant_id: int, event_key: str, _caller: str, status: str, error: str | None = None) -> str:
    """Record the event's status (final, or 'deferred' while its message waits)."""
    c = container()
    with transaction(c.sessions) as session:
        events = EventRepository(session, tenant_id)
        event = events.by_key(event_key)
        events.set_status(event_key, status, c.clock.now(), error)
        event_type = event.type if event is not None else "unknown"
    EVENTS.labels(type=event_type, status=status).inc()
    return status


# The ceiling; the tenant's playbook (channels.delivery.max_send_attempts) decides where retrying stops.
@step("message.send", retries=MAX_SEND_ATTEMPTS - 1, interval_s=0.5, should_retry=_retryable_send)
def deliver(tenant_id: int, message_id: int, event_key: str | None) -> dict[str, Any]:
    """Send an outbox message once: skip if already sent, else transmit with its idempotency key."""
    c = container()
    tenant = c.tenant_by_id(tenant_id)
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        if message is None:
            raise NotFound(f"message #{message_id} not found")
        if message.status == "sent":
            return {
                "status": "sent",
                "already": True,
                "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            }
        contact = ContactRepository(session, tenant_id).get(message.contact_id)
        assert contact is not None
        if contact.consent == "opted_out" and message.purpose != "opt_out_confirmation":
            # The opt-out arrived after this message passed its checks: it is not sent, whatever it is.
            message.status, message.error, message.updated_at = "blocked", "the contact opted out", c.clock.now()
            audit.record(
                session,
                tenant_id,
                kind="message.blocked",
                step="message.send",
                now=c.clock.now(),
                workflow_id=DBOS.workflow_id,
                event_key=event_key,
                contact_id=contact.id,
                dedupe_key=f"message:{message.id}:blocked-at-send",
                input={"message_id": message.id, "purpose": message.purpose},
                output={"status": "blocked"},
                reason="consent withdrawn after the guardrails passed this message: not sent",
            )
            return {"status": "blocked", "already": False, "sent_at": None}
        envelope = outbound(message, tenant.slug, contact.external_id)
    started = time.perf_counter()
    transport = c.transports_for(tenant).for_channel(envelope.channel)
    # Outside any transaction: a slow channel must not hold a database lock.
    step_status = DBOS.step_status
    delivery = transmit(
        transport,
        envelope,
        attempt=(step_status.current_attempt or 0) if step_status is not None else 0,
        max_attempts=c.playbook(tenant).channels.delivery.max_send_attempts,
    )
    now = c.clock.now()
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        contact = ContactRepository(session, tenant_id).get(message.contact_id) if message else None
        assert message is not None and contact is not None
        mark_sent(session, message, contact, delivery, now)
        audit.record(
            session,
            tenant_id,
            kind="message.sent",
            step="message.send",
            now=now,
            workflow_id=DBOS.workflow_id,
            event_key=event_key,
            contact_id=contact.id,
            dedupe_key=f"message:{message.id}:sent",
            input={
                "message_id": message.id,
                "channel": message.channel,
                "transport": delivery.transport,
                "idempotency_key": message.idempotency_key,
            },
            output={
                "provider_message_id": delivery.provider_message_id,
                "text": message.body,
                "language": message.language,
                "plan": message.plan,
            },
            reason=f"sent via {delivery.transport} as {message.channel}",
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return {"status": "sent", "already": False, "sent_at": now.isoformat()}


@step("message.fail")
def fail_message(tenant_id: int, message_id: int, error: str, event_key: str | None) -> None:
    """Record that a message could not be delivered after every retry."""
    c = container()
    now = c.clock.now()
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        if message is None or message.status == "sent":
            return
        mark_failed(session, message, error, now)
        audit.record(
            session,
            tenant_id,
            kind="message.failed",
            step="message.fail",
            now=now,
            workflow_id=DBOS.workflow_id,
            event_key=event_key,
            contact_id=message.contact_id,
            dedupe_key=f"message:{message.id}:failed",
            input={"message_id": message.id},
            output={"error": error},
            reason="every delivery attempt failed",
        )


@step("followup.schedule")
def schedule_followup(tenant_id: int, contact_id: int, message_id: int, event_key: str | None) -> dict[str, Any]:
    """After an outbound message, the lead counts as cold if nothing happens within the playbook's wait."""
    c = container()
    started = time.perf_counter()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        sent_at = message.sent_at if message and message.sent_at else now
        due = sent_at + timedelta(hours=playbook.followup.wait_hours)
        followup = c.contacts.start_cold_clock(session, tenant_id, contact_id, now, due, message_id)
        if followup is None:
            return {"scheduled": False, "reason": "the contact is already in a follow-up sequence"}
        audit.record(
            session,
            tenant_id,
            kind="followup.scheduled",
            step="followup.schedule",
            now=now,
            workflow_id=DBOS.workflow_id,
            event_key=event_key,
            contact_id=contact_id,
            dedupe_key=f"followup:{followup.id}:scheduled:{message_id}",
            input={"message_id": message_id, "wait_hours": playbook.followup.wait_hours},
            output={"followup_id": followup.id, "due_at": due.isoformat()},
            reason=f"cold check due {playbook.followup.wait_hours:g} h after the message if nothing happens",
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        return {"scheduled": True, "followup_id": followup.id, "due_at": due.isoformat()}


def send_and_follow_up(
    tenant_id: int, message_id: int, contact_id: int, event_key: str | None, *, follow_up: bool = True
) -> None:
    """Send the message once; record a failure for the operator; then start the cold-lead clock."""
    try:
        sent = deliver(tenant_id, message_id, event_key)
    except Exception as exc:
        fail_message(tenant_id, message_id, str(exc), event_key)
        raise
    if follow_up and sent["status"] == "sent":
        schedule_followup(tenant_id, contact_id, message_id, event_key)
