"""The lead workflow: a new lead gets classified, a first message composed, checked, sent once, followed up."""

from __future__ import annotations

import time
from typing import Any

from dbos import DBOS

from nightcrew.channels.models import Message
from nightcrew.channels.policy import MESSAGE_STATUS, check_outbound
from nightcrew.channels.service import choose_address, idempotency_key, record_intent
from nightcrew.compose.plans import pick_plan
from nightcrew.crm.repository import ContactRepository, contact_values
from nightcrew.crm.service import resolve_language
from nightcrew.db import transaction
from nightcrew.guardrails.context import Confidence, Purpose
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.observe import audit
from nightcrew.workflows.common import (
    begin_event,
    deliver,
    fail_message,
    finish_event,
    schedule_followup,
    workflow_id,
)
from nightcrew.workflows.runtime import container, current_traceparent, step

SEND_STEP = "send"


@step("contact.upsert")
def upsert_contact(tenant_id: int, event_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Create the contact or update it with what the event adds."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    playbook = c.playbook(tenant)
    with transaction(c.sessions) as session:
        contact, created = c.contacts.upsert(
            session,
            tenant_id,
            payload["contact"],
            now=now,
            playbook=playbook,
            stage=(payload.get("data") or {}).get("stage"),
            event_key=event_key,
        )
        audit.record(
            session,
            tenant_id,
            kind="contact.upserted",
            step="contact.upsert",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact.id,
            input={
                "external_id": contact.external_id,
                "fields": sorted(payload["contact"].get("fields") or {}),
            },
            output={"created": created, "stage": contact.stage},
            reason="new contact" if created else "existing contact updated",
        )
        return contact_values(contact)


@step("lead.classify")
def classify_segment(tenant_id: int, event_key: str, contact_id: int) -> dict[str, Any]:
    """Put the lead in a segment: the active learned model when there is one, else the playbook default."""
    c = container()
    started = time.perf_counter()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    decision: dict[str, Any] = {
        "segment": playbook.default_segment,
        "probability": None,
        "model": "playbook-default",
        "reasons": [],
        "why": "no active lead model: playbook default segment",
    }
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        contact.segment = str(decision["segment"])
        contact.segment_probability = None
        contact.segment_model = str(decision["model"])
        contact.updated_at = now
        audit.record(
            session,
            tenant_id,
            kind="lead.classified",
            step="lead.classify",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact_id,
            input={"fields": contact.fields},
            output=decision,
            reason=str(decision["why"]),
            model=str(decision["model"]),
            tier="local",
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return decision


@step("lead.pick_plan")
def choose_plan(tenant_id: int, event_key: str, contact: dict[str, Any], segment: str) -> dict[str, Any]:
    """Pick the message plan for segment x stage x language."""
    c = container()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    language, language_reason = resolve_language(contact, playbook)
    plan = pick_plan(playbook, purpose="outreach", segment=segment, stage=contact["stage"], language=language)
    chosen = {
        "plan": plan.name,
        "template": plan.template,
        "language": language,
        "tone": plan.tone,
        "call_to_action": plan.call_to_action,
    }
    with transaction(c.sessions) as session:
        audit.record(
            session,
            tenant_id,
            kind="plan.chosen",
            step="lead.pick_plan",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact["id"],
            input={"segment": segment, "stage": contact["stage"], "language": language},
            output=chosen,
            reason=f"most specific plan for segment={segment}, stage={contact['stage']}; "
            f"language {language} ({language_reason})",
        )
    return chosen


@step("lead.compose")
def compose(tenant_id: int, event_key: str, contact: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Write the message from the plan's template in the contact's language."""
    c = container()
    started = time.perf_counter()
    now = c.clock.now()
    draft = c.composer(c.tenant_by_id(tenant_id)).render(plan["template"], plan["plan"], plan["language"], contact)
    result = {
        "text": draft.text,
        "language": draft.language,
        "template": draft.template,
        "plan": draft.plan,
        "source": draft.source,
    }
    with transaction(c.sessions) as session:
        audit.record(
            session,
            tenant_id,
            kind="message.composed",
            step="lead.compose",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact["id"],
            input={"plan": plan["plan"], "template": plan["template"], "language": plan["language"]},
            output=result,
            reason=f"template {plan['language']}/{plan['template']}.j2",
            model="template",
            tier="local",
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return result


@step("lead.check")
def check(
    tenant_id: int,
    event_key: str,
    contact_id: int,
    draft: dict[str, Any],
    segment: dict[str, Any],
    purpose: Purpose = "outreach",
) -> dict[str, Any]:
    """Run the guardrails and record the intended message with its verdict (once per workflow)."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    playbook = c.playbook(tenant)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        address = choose_address(contact, playbook)
        confidence = Confidence(segment=segment.get("confidence"))
        if address is None:
            kind, text, until = VerdictKind.BLOCK, draft["text"], None
            reasons = ["address: the contact has no phone or email we can write to"]
            checks: list[dict[str, Any]] = [{"verdict": "block", "check": "address", "reason": reasons[0][9:]}]
        else:
            outcome = check_outbound(
                session,
                tenant_id,
                c.policy(tenant),
                contact,
                draft["text"],
                channel=address.channel,
                purpose=purpose,
                now=now,
                draft_source=draft.get("source", "template"),
                confidence=confidence,
                # A template rendered as written is the WhatsApp-approved template of that name.
                template=draft["template"] if draft.get("source", "template") == "template" else None,
            )
            kind, text, until = outcome.kind, outcome.text, outcome.until
            reasons, checks = outcome.reasons, [v.to_dict() for v in outcome.verdicts]
        message = record_intent(
            session,
            tenant_id,
            Message(
                contact_id=contact.id,
                event_key=event_key,
                workflow_id=wid,
                idempotency_key=idempotency_key(wid, SEND_STEP),
                purpose=purpose,
                channel=address.channel if address else "none",
                to_address=address.to if address else "",
                language=draft["language"],
                plan=draft["plan"],
                template=draft["template"],
                source=draft.get("source", "template"),
                segment=segment["segment"],
                stage=contact.stage,
                body=text,
                status=MESSAGE_STATUS[kind],
                send_after=until,
                created_at=now,
                updated_at=now,
            ),
        )
        if message.status == "review":
            c.review.open(
                session,
                tenant_id,
                contact_id=contact.id,
                kind="message",
                reasons=reasons,
                now=now,
                deadline_hours=playbook.review.deadline_hours,
                dedupe_key=f"{wid}:review",
                draft=text,
                message_id=message.id,
                workflow_id=wid,
                event_key=event_key,
                context={
                    "segment": segment["segment"],
                    "segment_confidence": segment.get("confidence"),
                    "language": draft["language"],
                    "plan": draft["plan"],
                    "purpose": purpose,
                },
            )
        summary = "; ".join(reasons) if reasons else "every check passed"
        audit.record(
            session,
            tenant_id,
            kind="guardrail.verdict",
            step="lead.check",
            now=now,
            workflow_id=wid,
            event_key=event_key,
            contact_id=contact.id,
            input={"text": draft["text"], "purpose": purpose, "channel": message.channel},
            output={
                "verdict": kind.value,
                "checks": checks,
                "message_id": message.id,
                "text": text if text != draft["text"] else None,
                "until": until.isoformat() if until else None,
            },
            reason=summary,
        )
        return {
            "message_id": message.id,
            "status": message.status,
            "until": message.send_after.isoformat() if message.send_after else None,
            "verdict": kind.value,
            "reason": summary,
        }


@DBOS.workflow(name="lead")
def lead_workflow(tenant_id: int, event_key: str) -> dict[str, Any]:
    """upsert contact -> classify -> pick plan -> compose -> check -> send -> schedule follow-up."""
    event = begin_event(tenant_id, event_key)
    current_traceparent.set(event["traceparent"])
    try:
        contact = upsert_contact(tenant_id, event_key, event["payload"])
        segment = classify_segment(tenant_id, event_key, contact["id"])
        plan = choose_plan(tenant_id, event_key, contact, segment["segment"])
        draft = compose(tenant_id, event_key, contact, plan)
        checked = check(tenant_id, event_key, contact["id"], draft, segment)
        if checked["status"] == "deferred":
            return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "deferred")}
        if checked["status"] != "pending":
            return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "done")}
        try:
            deliver(tenant_id, checked["message_id"], event_key)
        except Exception as exc:
            fail_message(tenant_id, checked["message_id"], str(exc), event_key)
            raise
        schedule_followup(tenant_id, contact["id"], checked["message_id"], event_key)
        return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "done")}
    except Exception as exc:
        # Cancellation and ownership conflicts are BaseExceptions in DBOS and pass through untouched.
        finish_event(tenant_id, event_key, "lead.created", "failed", f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
