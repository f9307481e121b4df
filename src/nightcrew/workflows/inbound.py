"""An inbound message: record it on the contact, and stop the sequence it answers."""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.observe import audit
from nightcrew.workflows.common import begin_event, finish_event, workflow_id
from nightcrew.workflows.lead import upsert_contact
from nightcrew.workflows.runtime import container, current_traceparent, step


@step("inbound.record")
def record_inbound(
    tenant_id: int, event_key: str, contact_id: int, data: dict[str, Any], occurred_at: str
) -> dict[str, Any]:
    """Note the reply on the contact and stop pending follow-ups: a reply ends a sequence."""
    from datetime import datetime

    c = container()
    now = c.clock.now()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id, for_update=True)
        assert contact is not None
        contact.last_inbound_at = (
            max(datetime.fromisoformat(occurred_at), contact.last_inbound_at or now)
            if contact.last_inbound_at
            else datetime.fromisoformat(occurred_at)
        )
        contact.updated_at = now
        stopped = c.contacts.stop_followups(session, tenant_id, contact.id, "the contact replied", now)
        audit.record(
            session,
            tenant_id,
            kind="inbound.received",
            step="inbound.record",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact.id,
            input={"channel": data["channel"], "text": data["text"]},
            output={"followups_cancelled": stopped},
            reason="inbound message" + (f"; {stopped} pending follow-up(s) stopped" if stopped else ""),
        )
        return {"followups_cancelled": stopped}


@DBOS.workflow(name="inbound")
def inbound_workflow(tenant_id: int, event_key: str) -> dict[str, Any]:
    """upsert contact -> record the message (stopping follow-ups)."""
    event = begin_event(tenant_id, event_key)
    current_traceparent.set(event["traceparent"])
    try:
        payload = event["payload"]
        contact = upsert_contact(tenant_id, event_key, {"contact": payload["contact"], "data": {}})
        recorded = record_inbound(tenant_id, event_key, contact["id"], payload["data"], event["occurred_at"])
        return {**recorded, "status": finish_event(tenant_id, event_key, "message.received", "done")}
    except Exception as exc:
        finish_event(tenant_id, event_key, "message.received", "failed", f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
