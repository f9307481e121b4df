"""A deferred message's time has come: check it again, send it once, then schedule its follow-up."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from nightcrew.channels.policy import MESSAGE_STATUS, check_outbound
from nightcrew.channels.repository import OutboxRepository
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.observe import audit
from nightcrew.workflows.common import deliver, fail_message, finish_event, schedule_followup, workflow_id
from nightcrew.workflows.runtime import container, step


@step("delivery.release")
def release(tenant_id: int, message_id: int) -> dict[str, Any]:
    """Re-check a deferred message at its due time: release it, defer it again, or stop it."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        if message is None:
            return {"status": "missing"}
        if message.status != "deferred":
            return {
                "status": message.status,
                "event_key": message.event_key,
                "contact_id": message.contact_id,
                "purpose": message.purpose,
            }
        contact = ContactRepository(session, tenant_id).get(message.contact_id)
        assert contact is not None
        # Consent, caps and hours may have changed while the message waited: check everything again.
        outcome = check_outbound(
            session,
            tenant_id,
            c.policy(tenant),
            contact,
            message.body,
            channel=message.channel,
            purpose=message.purpose,  # type: ignore[arg-type]
            now=now,
            exclude_message_id=message.id,
            draft_source=message.source,
            template=message.template if message.source == "template" else None,
        )
        if outcome.kind is VerdictKind.DEFER:
            message.send_after = outcome.until
        else:
            message.status = MESSAGE_STATUS[outcome.kind]
            message.body = outcome.text
        message.updated_at = now
        reason = "; ".join(outcome.reasons) or "released at its due time"
        audit.record(
            session,
            tenant_id,
            kind="message.released",
            step="delivery.release",
            now=now,
            workflow_id=workflow_id(),
            event_key=message.event_key,
            contact_id=contact.id,
            input={"message_id": message.id},
            output={
                "status": message.status,
                "verdict": outcome.kind.value,
                "send_after": message.send_after.isoformat() if message.send_after else None,
            },
            reason=reason,
        )
        return {
            "status": message.status,
            "event_key": message.event_key,
            "contact_id": contact.id,
            "purpose": message.purpose,
        }


@DBOS.workflow(name="deliver_deferred")
def deliver_deferred(tenant_id: int, message_id: int) -> dict[str, Any]:
    """release -> send -> schedule follow-up -> finish the event that asked for the message."""
    released = release(tenant_id, message_id)
    event_key = released.get("event_key")
    if released["status"] != "pending":
        if released["status"] in ("blocked", "review") and event_key:
            finish_event(tenant_id, event_key, "lead.created", "done")
        return released
    try:
        deliver(tenant_id, message_id, event_key)
    except Exception as exc:
        fail_message(tenant_id, message_id, str(exc), event_key)
        if event_key:
            finish_event(tenant_id, event_key, "lead.created", "failed", str(exc))
        return {"status": "failed", "error": str(exc)}
    if released["purpose"] in ("outreach", "followup"):
        schedule_followup(tenant_id, released["contact_id"], message_id, event_key)
    if event_key:
        finish_event(tenant_id, event_key, "lead.created", "done")
    return {"status": "sent"}
