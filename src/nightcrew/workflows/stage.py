"""A stage change from outside (the CRM): move the contact and stop follow-ups that no longer apply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dbos import DBOS

from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.observe import audit
from nightcrew.observe.outcomes import record_outcome
from nightcrew.workflows.common import adopt_trace, begin_event, finish_event, workflow_id
from nightcrew.workflows.lead import upsert_contact
from nightcrew.workflows.runtime import container, step

# Stages that end a re-engagement sequence: the lead moved on, one way or another.
STOPPING_KINDS = {"booked", "won", "lost", "nurture"}
RESTARTING_KINDS = {"cancelled", "no_show"}
OUTCOME_FOR_KIND = {"booked": "booked", "cancelled": "cancelled", "no_show": "cancelled", "won": "won"}


@step("stage.move")
def move_stage(tenant_id: int, event_key: str, contact_id: int, to_stage: str, reason: str | None) -> dict[str, Any]:
    """Record the move and cancel pending follow-ups when the new stage ends a sequence."""
    c = container()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    stage = playbook.stage(to_stage)
    kind = stage.kind if stage else "open"
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id, for_update=True)
        assert contact is not None
        previous = contact.stage
        change = c.contacts.move(
            session,
            tenant_id,
            contact,
            to_stage,
            now=now,
            event_key=event_key,
            reason=reason or "stage changed in the CRM",
        )
        stopped = 0
        if change is not None and kind in STOPPING_KINDS:
            stopped = c.contacts.stop_followups(session, tenant_id, contact.id, f"stage moved to {to_stage}", now)
        outcome = OUTCOME_FOR_KIND.get(kind)
        if change is not None and outcome is not None:
            record_outcome(
                session,
                tenant_id,
                contact_id=contact.id,
                kind=outcome,
                at=now,
                window_hours=playbook.attribution.window_hours,
                event_key=event_key,
                dedupe=f"{event_key}:{outcome}",
            )
        postponed = None
        if change is not None and kind == "open":
            # Stage progress is not silence: the cold check counts the playbook's wait from this move.
            later = now + timedelta(hours=playbook.followup.wait_hours)
            postponed = c.contacts.postpone_cold_check(session, tenant_id, contact.id, now, later)
        if change is not None and kind in RESTARTING_KINDS:
            # A cancelled or missed class starts the cold clock: silence now means "booked, then cancelled".
            c.contacts.start_cold_clock(
                session, tenant_id, contact.id, now, now + timedelta(hours=playbook.followup.wait_hours)
            )
        audit.record(
            session,
            tenant_id,
            kind="stage.changed",
            step="stage.move",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact.id,
            input={"from": previous, "to": to_stage, "kind": kind},
            output={
                "moved": change is not None,
                "followups_cancelled": stopped,
                "cold_check_due": postponed.due_at.isoformat() if postponed else None,
            },
            reason=(f"{previous} -> {to_stage} ({kind})" if change else f"already in {to_stage}")
            + (f"; {stopped} pending follow-up(s) stopped" if stopped else "")
            + (f"; cold check moved to {postponed.due_at.isoformat()}" if postponed else ""),
        )
        return {
            "from": previous,
            "to": to_stage,
            "kind": kind,
            "followups_cancelled": stopped,
            "cold_check_due": postponed.due_at.isoformat() if postponed else None,
        }


@DBOS.workflow(name="stage")
def stage_workflow(tenant_id: int, event_key: str) -> dict[str, Any]:
    """upsert contact -> move stage (stopping follow-ups when it ends a sequence)."""
    adopt_trace(tenant_id, event_key)
    event = begin_event(tenant_id, event_key)
    try:
        payload = event["payload"]
        contact = upsert_contact(tenant_id, event_key, {"contact": payload["contact"], "data": {}})
        moved = move_stage(tenant_id, event_key, contact["id"], payload["data"]["to"], payload["data"].get("reason"))
        return {**moved, "status": finish_event(tenant_id, event_key, "stage.changed", "done")}
    except Exception as exc:
        finish_event(tenant_id, event_key, "stage.changed", "failed", f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
