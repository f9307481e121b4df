"""A lead went cold: pick the re-engagement path by why, and send its steps one durable due-time at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS

from nightcrew.channels.repository import OutboxRepository
from nightcrew.compose.plans import plan_copy
from nightcrew.crm.followups import StageMove, diagnose, stop_cause
from nightcrew.crm.repository import ContactRepository, FollowUpRepository, StageRepository, contact_values
from nightcrew.crm.service import resolve_language
from nightcrew.db import transaction
from nightcrew.observe import audit
from nightcrew.observe.repository import ActionRepository
from nightcrew.playbook.schemas import STOP_CAUSES, StopCause
from nightcrew.workflows.common import send_and_follow_up, workflow_id
from nightcrew.workflows.outbound import check_draft, compose_draft, park_for_model
from nightcrew.workflows.runtime import container, step


def followup_workflow_id(followup_id: int, step_index: int, kind: str) -> str:
    """One workflow per follow-up per step: a step is never repeated, a restart resumes where it stopped."""
    return f"followup:{followup_id}:{'cold' if kind == 'cold_check' else step_index}"


@step("followup.evaluate")
def evaluate(tenant_id: int, followup_id: int) -> dict[str, Any]:
    """Stop if something happened; else (on the cold check) decide why the lead went cold and start its path."""
    c = container()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    wid = workflow_id()
    with transaction(c.sessions) as session:
        followups = FollowUpRepository(session, tenant_id)
        followup = followups.get(followup_id)
        if followup is None or followup.status != "running":
            return {"action": "skip", "why": f"follow-up is {followup.status if followup else 'missing'}"}
        contact = ContactRepository(session, tenant_id).get(followup.contact_id, for_update=True)
        assert contact is not None
        last = OutboxRepository(session, tenant_id).last_sent_message(contact.id)
        since = last.sent_at if last is not None and last.sent_at is not None else followup.created_at
        path = next((p for r, p in playbook.followup.paths.items() if r == followup.reason), None)
        exits: list[StopCause] = (
            path.steps[followup.step_index].exit_on
            if path and followup.step_index < len(path.steps)
            else list(STOP_CAUSES)
        )
        stopped = stop_cause(
            playbook,
            consent=contact.consent,
            human_takeover=contact.human_takeover,
            stage=contact.stage,
            last_inbound_at=contact.last_inbound_at,
            since=since,
            allowed=exits,
        )
        if stopped is not None:
            cause, why = stopped
            followup.status, followup.outcome, followup.updated_at = "done", f"stopped: {cause}", now
            audit.record(
                session,
                tenant_id,
                kind="followup.stopped",
                step="followup.evaluate",
                now=now,
                workflow_id=wid,
                contact_id=contact.id,
                input={"followup_id": followup.id, "path": followup.path, "step": followup.step_index},
                output={"cause": cause},
                reason=why,
            )
            return {"action": "stop", "cause": cause}
        if followup.kind == "cold_check":
            history = StageRepository(session, tenant_id).history(contact.id)
            understood = ActionRepository(session, tenant_id).of_kind_for_contact(contact.id, "inbound.understood")
            intents = [(str(a.output.get("intent")), a.created_at) for a in understood]
            diagnosis = diagnose(
                playbook,
                stages=[StageMove(h.to_stage, h.changed_at) for h in history],
                intents=intents,
                replied=contact.last_inbound_at is not None,
            )
            path = playbook.followup.paths.get(diagnosis.reason)
            hours = (now - since).total_seconds() / 3600
            if path is None:
                followup.status, followup.outcome, followup.updated_at = "done", "no path for this reason", now
                audit.record(
                    session,
                    tenant_id,
                    kind="followup.no_path",
                    step="followup.evaluate",
                    now=now,
                    workflow_id=wid,
                    contact_id=contact.id,
                    input={"followup_id": followup.id},
                    output={"reason": diagnosis.reason, "evidence": diagnosis.evidence},
                    reason=f"cold ({diagnosis.reason}) but the playbook has no path for it",
                )
                return {"action": "stop", "cause": "no_path"}
            followup.kind, followup.reason, followup.path, followup.step_index = (
                "sequence",
                diagnosis.reason,
                path.name,
                0,
            )
            audit.record(
                session,
                tenant_id,
                kind="followup.started",
                step="followup.evaluate",
                now=now,
                workflow_id=wid,
                contact_id=contact.id,
                input={"followup_id": followup.id, "silent_hours": round(hours, 1)},
                output={"reason": diagnosis.reason, "path": path.name, "evidence": diagnosis.evidence},
                reason=f"no reply and no progress for {hours:.0f} h since our last message: "
                f"{diagnosis.reason} -> path {path.name}",
            )
        assert path is not None and followup.reason is not None
        plan_step = path.steps[followup.step_index]
        plan = playbook.plan(plan_step.plan)
        language, _ = resolve_language(contact_values(contact), playbook)
        return {
            "action": "send",
            "contact_id": contact.id,
            "segment": contact.segment,
            "reason": followup.reason,
            "path": path.name,
            "step_index": followup.step_index,
            "plan": {
                "plan": plan.name,
                **plan_copy(plan, contact.external_id),
                "language": language,
                "tone": plan.tone,
                "call_to_action": plan.call_to_action,
                "path": path.name,
                "step": followup.step_index,
                # 'preferred' leaves it to the playbook's channel preference for this contact.
                "channel": None if plan_step.channel == "preferred" else plan_step.channel,
            },
        }


@step("followup.advance")
def advance(tenant_id: int, followup_id: int, sent: dict[str, Any]) -> dict[str, Any]:
    """Schedule the next touch after its delay, or finish the path (its final stage) after the last one."""
    c = container()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    wid = workflow_id()
    with transaction(c.sessions) as session:
        followup = FollowUpRepository(session, tenant_id).get(followup_id)
        assert followup is not None and followup.reason is not None
        path = playbook.followup.paths[followup.reason]  # type: ignore[index]
        status = sent.get("status")
        if status in ("blocked", "review", "rejected"):
            followup.status, followup.outcome, followup.updated_at = "done", f"stopped: message {status}", now
            audit.record(
                session,
                tenant_id,
                kind="followup.stopped",
                step="followup.advance",
                now=now,
                workflow_id=wid,
                contact_id=followup.contact_id,
                input={"followup_id": followup.id, "step": followup.step_index},
                output={"cause": f"message_{status}"},
                reason=f"step {followup.step_index + 1} was {status} by the guardrails: the sequence stops",
            )
            return {"next": None}
        touched_at = datetime.fromisoformat(sent["until"]) if sent.get("until") else now
        next_index = followup.step_index + 1
        if next_index < min(len(path.steps), path.max_touches):
            due = touched_at + timedelta(hours=path.steps[next_index].delay_hours)
            followup.step_index, followup.due_at, followup.status, followup.updated_at = next_index, due, "pending", now
            audit.record(
                session,
                tenant_id,
                kind="followup.scheduled",
                step="followup.advance",
                now=now,
                workflow_id=wid,
                contact_id=followup.contact_id,
                input={"followup_id": followup.id, "path": path.name},
                output={"step": next_index, "due_at": due.isoformat()},
                reason=f"{path.name}: touch {next_index + 1} due {due.isoformat()}",
            )
            return {"next": next_index, "due_at": due.isoformat()}
        followup.status, followup.outcome, followup.updated_at = "done", "completed", now
        contact = ContactRepository(session, tenant_id).get(followup.contact_id, for_update=True)
        assert contact is not None
        moved = None
        if path.final.stage:
            moved = c.contacts.move(
                session,
                tenant_id,
                contact,
                path.final.stage,
                now=now,
                event_key=None,
                reason=path.final.note or f"{path.name} finished",
            )
        audit.record(
            session,
            tenant_id,
            kind="followup.completed",
            step="followup.advance",
            now=now,
            workflow_id=wid,
            contact_id=contact.id,
            input={"followup_id": followup.id, "path": path.name},
            output={"final_stage": path.final.stage if moved else None},
            reason=f"{path.name}: every touch sent without a reply"
            + (f"; moved to {path.final.stage}" if moved else ""),
        )
        return {"next": None, "final_stage": path.final.stage}


@DBOS.workflow(name="followup")
def followup_workflow(tenant_id: int, followup_id: int) -> dict[str, Any]:
    """evaluate (stop, or pick the path) -> compose the step -> check -> send -> schedule the next step."""
    decided = evaluate(tenant_id, followup_id)
    if decided["action"] != "send":
        return decided
    contact_id, plan = decided["contact_id"], decided["plan"]
    draft = compose_draft(tenant_id, None, contact_id, plan, "followup")
    if draft["waiting"]:
        sent = park_for_model(tenant_id, None, contact_id, plan, "followup", decided["segment"], draft["retry_at"])
    else:
        sent = check_draft(tenant_id, None, contact_id, draft, plan, "followup", {"segment": decided["segment"]})
        if sent["status"] == "pending":
            send_and_follow_up(tenant_id, sent["message_id"], contact_id, None, follow_up=False)
    return {**decided, "message": sent, "advance": advance(tenant_id, followup_id, sent)}
