"""A waiting message's time has come: compose it if a model was down, check it again, send it once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos import DBOS

from nightcrew.channels.repository import OutboxRepository
from nightcrew.crm.followups import stop_cause
from nightcrew.crm.repository import ContactRepository
from nightcrew.crm.service import AUTOMATED_PURPOSES
from nightcrew.db import transaction
from nightcrew.guardrails.context import Confidence
from nightcrew.observe import audit
from nightcrew.playbook.schemas import STOP_CAUSES
from nightcrew.workflows.common import finish_event, send_and_follow_up, workflow_id
from nightcrew.workflows.outbound import compose_now, record_verdict
from nightcrew.workflows.runtime import container, step

WAITING = ("deferred", "awaiting_model")


def _snapshot(message: Any) -> dict[str, Any]:
    return {
        # Whether a cold-lead check starts once it is sent (first outreach and ordinary replies do).
        "follow_up": bool((message.plan_context or {}).get("follow_up", message.purpose == "outreach")),
        "status": message.status,
        "event_key": message.event_key,
        "contact_id": message.contact_id,
        "purpose": message.purpose,
        "send_after": message.send_after.isoformat() if message.send_after else None,
    }


def _confidence(plan_context: dict[str, Any], draft: dict[str, Any]) -> Confidence:
    """The confidence kept with the message at its first check; a draft written only now (it waited for a model)
    brings its own quality rating."""
    kept = dict(plan_context.get("confidence") or {})
    if draft.get("quality") is not None:
        kept["draft"] = draft["quality"]
    return Confidence.model_validate(kept)


@step("delivery.release")
def release(tenant_id: int, message_id: int) -> dict[str, Any]:
    """Compose (if it waited for a model) and re-check a waiting message: release, defer again, or stop it."""
    c = container()
    tenant = c.tenant_by_id(tenant_id)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        if message is None:
            return {"status": "missing"}
        if message.status not in WAITING:
            return _snapshot(message)
        contact = ContactRepository(session, tenant_id).get(message.contact_id)
        assert contact is not None
        waited_for_model = message.status == "awaiting_model"
    draft: dict[str, Any]
    if waited_for_model:
        # Outside any transaction: a model call must not hold a database lock.
        draft = compose_now(
            c, tenant, contact, dict(message.plan_context), purpose=message.purpose, call_id=f"{wid}:delivery.compose"
        )
    else:
        draft = {
            "waiting": False,
            "text": message.body,
            "language": message.language,
            "plan": message.plan,
            "template": message.template,
            "source": message.source,
        }
    now = c.clock.now()
    with transaction(c.sessions) as session:
        message = OutboxRepository(session, tenant_id).get(message_id)
        contact = ContactRepository(session, tenant_id).get(message.contact_id) if message else None
        assert message is not None and contact is not None
        if message.status not in WAITING:
            return _snapshot(message)
        if draft["waiting"]:
            message.send_after, message.updated_at = datetime.fromisoformat(draft["retry_at"]), now
            audit.record(
                session,
                tenant_id,
                kind="message.awaiting_model",
                step="delivery.release",
                now=now,
                workflow_id=wid,
                event_key=message.event_key,
                contact_id=contact.id,
                input={"message_id": message.id},
                output=draft,
                reason=f"{draft['reason']}; waits until {draft['retry_at']}",
            )
            return _snapshot(message)
        if waited_for_model:
            audit.record(
                session,
                tenant_id,
                kind="message.composed",
                step="delivery.release",
                now=now,
                workflow_id=wid,
                event_key=message.event_key,
                contact_id=contact.id,
                dedupe_key=f"message:{message.id}:composed:{now.isoformat()}",
                input={"message_id": message.id, "plan": message.plan},
                output=draft,
                reason=draft["reason"],
                model=draft["model"],
                tier=draft["tier"],
                cost_usd=draft["cost_usd"],
            )
        if message.purpose in AUTOMATED_PURPOSES:
            # A reply, booking, hand-off or final stage that came while it waited makes an automated touch stale.
            stopped = stop_cause(
                c.playbook(tenant),
                consent=contact.consent,
                human_takeover=contact.human_takeover,
                stage=contact.stage,
                last_inbound_at=contact.last_inbound_at,
                since=message.created_at,
                allowed=STOP_CAUSES,
            )
            if stopped is not None:
                c.contacts.withdraw_unsent(
                    session,
                    tenant_id,
                    contact.id,
                    stopped[1],
                    now,
                    purposes=(message.purpose,),
                    only_message_id=message.id,
                )
                return _snapshot(message)
        # Consent, caps and hours may have changed while the message waited: check everything again.
        record_verdict(
            c,
            session,
            tenant,
            contact,
            message,
            draft,
            purpose=message.purpose,  # type: ignore[arg-type]
            now=now,
            confidence=_confidence(message.plan_context or {}, draft),
            step_name="delivery.release",
            wid=wid,
            event_key=message.event_key,
        )
        return _snapshot(message)


@DBOS.workflow(name="deliver_waiting")
def deliver_waiting(tenant_id: int, message_id: int) -> dict[str, Any]:
    """release -> send -> schedule follow-up -> finish the event that asked for the message."""
    released = release(tenant_id, message_id)
    event_key = released.get("event_key")
    status = released["status"]
    if status in WAITING:
        return released
    if status != "pending":
        if status in ("blocked", "review") and event_key:
            finish_event(tenant_id, event_key, "message", "done")
        return released
    try:
        send_and_follow_up(
            tenant_id,
            message_id,
            released["contact_id"],
            event_key,
            follow_up=released["follow_up"],
        )
    except Exception as exc:
        if event_key:
            finish_event(tenant_id, event_key, "message", "failed", str(exc))
        return {"status": "failed", "error": str(exc)}
    if event_key:
        finish_event(tenant_id, event_key, "message", "done")
    return {"status": "sent"}
