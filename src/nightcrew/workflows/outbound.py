"""Steps every outbound message goes through: compose (model or template), check, record, or wait for a model."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from nightcrew.ai.config import TaskName
from nightcrew.ai.errors import TierUnavailable
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.channels.models import Message
from nightcrew.channels.policy import MESSAGE_STATUS, check_outbound
from nightcrew.channels.service import choose_address, idempotency_key, record_intent
from nightcrew.compose.service import compose_message
from nightcrew.crm.models import Contact
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.guardrails.context import Confidence, Purpose
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.observe import audit
from nightcrew.workflows.common import workflow_id
from nightcrew.workflows.runtime import container, model_queue, step

SEND_STEP = "send"
TASK_FOR_PURPOSE: dict[str, TaskName] = {
    "outreach": "compose_outreach",
    "reply": "compose_reply",
    "followup": "compose_followup",
    "confirmation": "compose_reply",
    "opt_out_confirmation": "compose_reply",
}
# Always the playbook's own words, never a model's: what the contact must be able to rely on.
TEMPLATE_ONLY = {"opt_out_confirmation"}


def channel_for(c: Container, tenant: TenantRef, contact: Contact, preferred: str | None = None) -> str:
    """The channel the message will go out on (for length limits in the brief)."""
    address = choose_address(contact, c.playbook(tenant), preferred)
    return address.channel if address else "sms"


def preferred_channel(plan: dict[str, Any]) -> str | None:
    """The channel a plan asks for (a follow-up step's, or a redelivery's); None = the playbook's preference."""
    return plan.get("redelivery_channel") or plan.get("channel")


def render_values(contact: Contact) -> dict[str, Any]:
    """What templates and briefs may use about a contact."""
    return {
        "external_id": contact.external_id,
        "name": contact.name,
        "fields": dict(contact.fields or {}),
        "segment": contact.segment,
        "stage": contact.stage,
        "location": contact.location,
        "phone": contact.phone,
    }


def template_required(purpose: str, channel: str, last_inbound_at: datetime | None, now: datetime) -> str | None:
    """Why this message must be the playbook's template as written (None when a model may draft it)."""
    if purpose in TEMPLATE_ONLY:
        return "an opt-out confirmation is always the playbook's own words"
    if channel == "whatsapp" and (last_inbound_at is None or now - last_inbound_at > timedelta(hours=24)):
        # WhatsApp lets a business open a conversation only with an approved template.
        return "WhatsApp outside the 24-hour window: an approved template"
    return None


def template_draft(
    c: Container, tenant: TenantRef, contact: Contact, plan: dict[str, Any], channel: str, why: str
) -> dict[str, Any]:
    """The plan's template rendered for the contact, as a compose result."""
    values = {
        "external_id": contact.external_id,
        "name": contact.name,
        "fields": dict(contact.fields or {}),
        "segment": contact.segment,
        "stage": contact.stage,
        "location": contact.location,
        "phone": contact.phone,
    }
    draft = c.composer(tenant).render(plan["template"], plan["plan"], plan["language"], values, channel=channel)
    return {
        "waiting": False,
        "text": draft.text,
        "language": draft.language,
        "plan": plan["plan"],
        "template": plan["template"],
        "variant": plan.get("variant"),
        "source": "template",
        "model": "template",
        "tier": "local",
        "endpoint": "local",
        "cost_usd": 0.0,
        "counterfactual_usd": 0.0,
        "fell_back": False,
        "reason": f"template {plan['language']}/{plan['template']}.j2 ({why})",
    }


def compose_now(
    c: Container,
    tenant: TenantRef,
    contact: Contact,
    plan: dict[str, Any],
    *,
    purpose: str,
    call_id: str,
    last_message: str | None = None,
) -> dict[str, Any]:
    """Compose through the router; {'waiting': True, 'retry_at': ...} when every allowed model is down."""
    values = render_values(contact)
    channel = channel_for(c, tenant, contact, preferred_channel(plan))
    must_use_template = template_required(purpose, channel, contact.last_inbound_at, c.clock.now())
    if must_use_template:
        return template_draft(c, tenant, contact, plan, channel, must_use_template)
    try:
        composed = compose_message(
            c.router(tenant),
            c.composer(tenant),
            c.playbook(tenant),
            task=TASK_FOR_PURPOSE[purpose],
            plan=plan,
            contact=values,
            channel=channel_for(c, tenant, contact, preferred_channel(plan)),
            tenant=tenant.slug,
            call_id=call_id,
            last_message=last_message,
            extra=plan.get("extra"),
        )
    except TierUnavailable as exc:
        return {"waiting": True, "retry_at": exc.retry_at.isoformat(), "reason": exc.message, "tiers": list(exc.tiers)}
    return {"waiting": False, **composed.to_dict()}


@step("message.compose")
def compose_draft(
    tenant_id: int,
    event_key: str | None,
    contact_id: int,
    plan: dict[str, Any],
    purpose: str,
    last_message: str | None = None,
) -> dict[str, Any]:
    """Write the message for the plan: an LLM draft where the playbook routes it, else its template."""
    c = container()
    started = time.perf_counter()
    tenant = c.tenant_by_id(tenant_id)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
    result = compose_now(
        c, tenant, contact, plan, purpose=purpose, call_id=f"{wid}:message.compose", last_message=last_message
    )
    now = c.clock.now()
    with transaction(c.sessions) as session:
        if result["waiting"]:
            audit.record(
                session,
                tenant_id,
                kind="message.awaiting_model",
                step="message.compose",
                now=now,
                workflow_id=wid,
                event_key=event_key,
                contact_id=contact_id,
                input={"plan": plan["plan"], "task": TASK_FOR_PURPOSE[purpose]},
                output=result,
                reason=f"{result['reason']}; waits until {result['retry_at']}",
            )
        else:
            audit.record(
                session,
                tenant_id,
                kind="message.composed",
                step="message.compose",
                now=now,
                workflow_id=wid,
                event_key=event_key,
                contact_id=contact_id,
                input={
                    "plan": plan["plan"],
                    "template": plan["template"],
                    "variant": plan.get("variant"),
                    "language": plan["language"],
                    "task": TASK_FOR_PURPOSE[purpose],
                },
                output=result,
                reason=result["reason"],
                model=result["model"],
                tier=result["tier"],
                cost_usd=result["cost_usd"],
                duration_ms=(time.perf_counter() - started) * 1000,
            )
    return result


def _message(
    contact: Contact,
    event_key: str | None,
    wid: str,
    purpose: str,
    plan: dict[str, Any],
    segment: str | None,
    now: datetime,
    channel: str,
    to: str,
) -> Message:
    return Message(
        contact_id=contact.id,
        event_key=event_key,
        workflow_id=wid,
        idempotency_key=idempotency_key(wid, SEND_STEP),
        purpose=purpose,
        channel=channel,
        to_address=to,
        language=plan["language"],
        plan=plan["plan"],
        template=plan["template"],
        variant=plan.get("variant"),
        segment=segment,
        stage=contact.stage,
        path=plan.get("path"),
        body="",
        status="pending",
        plan_context=plan,
        created_at=now,
        updated_at=now,
    )


def waiting_queue(c: Container, tenant_id: int, purpose: str) -> str:
    """The queue a message parked for a model drains through: its endpoint's, at that endpoint's rate."""
    return model_queue(c.playbook(c.tenant_by_id(tenant_id)).routing, TASK_FOR_PURPOSE[purpose])


@step("message.park")
def park_for_model(
    tenant_id: int,
    event_key: str | None,
    contact_id: int,
    plan: dict[str, Any],
    purpose: str,
    segment: str | None,
    retry_at: str,
) -> dict[str, Any]:
    """Every model the playbook allows is down: keep the message durably until the retry time."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        address = choose_address(contact, c.playbook(tenant))
        message = _message(
            contact,
            event_key,
            wid,
            purpose,
            plan,
            segment,
            now,
            address.channel if address else "none",
            address.to if address else "",
        )
        message.status, message.send_after = "awaiting_model", datetime.fromisoformat(retry_at)
        message.waited_for_model_at = now
        message = record_intent(session, tenant_id, message)
        return {"message_id": message.id, "status": message.status, "until": retry_at}


def record_verdict(
    c: Container,
    session: Any,
    tenant: TenantRef,
    contact: Contact,
    message: Message,
    draft: dict[str, Any],
    *,
    purpose: Purpose,
    now: datetime,
    confidence: Confidence,
    step_name: str,
    wid: str | None,
    event_key: str | None,
    segment_context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the guardrails on a composed draft and set the outbox row's status, body and due time from the verdict."""
    playbook = c.playbook(tenant)
    # A follow-up step may name its channel; a copy of an undelivered message keeps the one its policy chose.
    address = choose_address(contact, playbook, preferred_channel(message.plan_context or {}))
    if address is None:
        kind, text, until = VerdictKind.BLOCK, draft["text"], None
        reasons = ["address: the contact has no phone or email we can write to"]
        checks: list[dict[str, Any]] = [{"verdict": "block", "check": "address", "reason": reasons[0][9:]}]
        earlier = []
    else:
        outcome = check_outbound(
            session,
            tenant.id,
            c.policy(tenant),
            contact,
            draft["text"],
            channel=address.channel,
            purpose=purpose,
            now=now,
            draft_source=draft.get("source", "template"),
            confidence=confidence,
            # A template rendered as written is the WhatsApp-approved template of that name.
            template=draft.get("template") if draft.get("source", "template") == "template" else None,
            exclude_message_id=message.id,
        )
        kind, text, until = outcome.kind, outcome.text, outcome.until
        reasons, checks = outcome.reasons, [v.to_dict() for v in outcome.verdicts]
        # Earlier rounds (before a revise fix, or a deferral re-checked at its due time) are the audit trail too.
        rounds = [v.to_dict() for v in outcome.history[: len(outcome.history) - len(outcome.verdicts)]]
        earlier = [r for r in rounds if r["verdict"] != "pass"]
        message.channel, message.to_address = address.channel, address.to
    message.body, message.source = text, draft.get("source", "template")
    message.status, message.send_after, message.updated_at = MESSAGE_STATUS[kind], until, now
    if message.status == "review":
        c.review.open(
            session,
            tenant.id,
            contact_id=contact.id,
            kind="message",
            reasons=reasons,
            now=now,
            deadline_hours=playbook.review.deadline_hours,
            dedupe_key=f"message:{message.id}:review",
            draft=text,
            message_id=message.id,
            workflow_id=wid,
            event_key=event_key,
            context={
                **(segment_context or {}),
                "language": draft["language"],
                "plan": draft.get("plan"),
                "purpose": purpose,
                "source": draft.get("source"),
            },
        )
    summary = "; ".join(reasons) if reasons else "every check passed"
    audit.record(
        session,
        tenant.id,
        kind="guardrail.verdict",
        step=step_name,
        now=now,
        workflow_id=wid,
        event_key=event_key,
        contact_id=contact.id,
        dedupe_key=f"message:{message.id}:verdict:{now.isoformat()}:{draft.get('source', 'template')}",
        input={
            "text": draft["text"],
            "purpose": purpose,
            "channel": message.channel,
            "source": draft.get("source"),
            "template": draft.get("template"),
        },
        output={
            "verdict": kind.value,
            "checks": checks,
            "earlier_rounds": earlier,
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


@step("message.check")
def check_draft(
    tenant_id: int,
    event_key: str | None,
    contact_id: int,
    draft: dict[str, Any],
    plan: dict[str, Any],
    purpose: Purpose,
    segment: dict[str, Any] | None = None,
    intent_confidence: float | None = None,
) -> dict[str, Any]:
    """Run the guardrails and record the intended message with its verdict (once per workflow)."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    wid = workflow_id()
    segment = segment or {}
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        message = record_intent(
            session,
            tenant_id,
            _message(
                contact, event_key, wid, purpose, plan, segment.get("segment") or contact.segment, now, "none", ""
            ),
        )
        if message.status != "pending" or message.body:
            # A re-run of this step after a crash: the verdict was recorded already.
            return {
                "message_id": message.id,
                "status": message.status,
                "until": message.send_after.isoformat() if message.send_after else None,
                "verdict": "recorded",
                "reason": "already checked",
            }
        confidence = Confidence(segment=segment.get("confidence"), intent=intent_confidence, draft=draft.get("quality"))
        # Kept with the message: a re-check after it waited (hours, a model) applies the same thresholds.
        message.plan_context = {**(message.plan_context or {}), "confidence": confidence.model_dump()}
        verdict = record_verdict(
            c,
            session,
            tenant,
            contact,
            message,
            draft,
            purpose=purpose,
            now=now,
            confidence=confidence,
            step_name="message.check",
            wid=wid,
            event_key=event_key,
            segment_context={"segment": segment.get("segment"), "segment_confidence": segment.get("confidence")},
        )
        if verdict["status"] == "blocked" and draft.get("source") == "llm":
            # The model's draft broke a rule: the approved template says it instead, checked the same way.
            fallback = template_draft(
                c,
                tenant,
                contact,
                plan,
                message.channel
                if message.channel != "none"
                else channel_for(c, tenant, contact, preferred_channel(plan)),
                f"the model's draft was blocked: {verdict['reason']}",
            )
            verdict = record_verdict(
                c,
                session,
                tenant,
                contact,
                message,
                fallback,
                purpose=purpose,
                now=now,
                confidence=Confidence(segment=segment.get("confidence"), intent=intent_confidence),
                step_name="message.check",
                wid=wid,
                event_key=event_key,
                segment_context={"segment": segment.get("segment"), "segment_confidence": segment.get("confidence")},
            )
            verdict["fell_back_to_template"] = True
        return verdict
