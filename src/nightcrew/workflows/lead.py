"""The lead workflow: a new lead gets classified, a first message composed, checked, sent once, followed up."""

from __future__ import annotations

import time
from typing import Any

from dbos import DBOS

from nightcrew.ai.router import CallContext
from nightcrew.ai.tasks import classify_lead
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.compose.plans import assign_variant, pick_plan
from nightcrew.crm.repository import ContactRepository, contact_values
from nightcrew.crm.service import resolve_language
from nightcrew.db import transaction
from nightcrew.observe import audit
from nightcrew.workflows.common import adopt_trace, begin_event, finish_event, send_and_follow_up, workflow_id
from nightcrew.workflows.crm_sync import write_back_or_report
from nightcrew.workflows.outbound import check_draft, compose_draft, park_for_model
from nightcrew.workflows.runtime import container, step


@step("contact.upsert")
def upsert_contact(tenant_id: int, event_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Create the contact or update it with what the event adds."""
    c = container()
    started = time.perf_counter()
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
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        return contact_values(contact)


def _decide_segment(c: Container, tenant: TenantRef, fields: dict[str, Any], call: CallContext) -> dict[str, Any]:
    """The segment through the router's classify_lead route: locally, the active learned model's (or the
    playbook's default when no model is promoted)."""
    active = c.models.active_lead_model(tenant)
    model, version = active if active is not None else (None, None)
    return classify_lead(c.router(tenant), c.playbook(tenant), model, version, fields, context=call)


@step("lead.classify")
def classify_segment(tenant_id: int, event_key: str, contact_id: int) -> dict[str, Any]:
    """Put the lead in a segment: the active learned model when there is one, else the playbook default."""
    c = container()
    started = time.perf_counter()
    tenant = c.tenant_by_id(tenant_id)
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        fields = dict(contact.fields or {})
        call = CallContext(tenant=tenant.slug, contact=contact.external_id, call_id=f"{workflow_id()}:lead.classify")
    decision = _decide_segment(c, tenant, fields, call)
    now = c.clock.now()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        contact.segment = decision["segment"]
        contact.segment_probability = decision["probability"]
        contact.segment_model = decision["model"]
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
            input={"fields": fields},
            output=decision,
            reason=decision["reason"],
            confidence=decision["confidence"],
            model=decision["model"],
            tier=decision["routing"]["tier"],
            cost_usd=decision["routing"]["cost_usd"],
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return decision


@step("lead.pick_plan")
def choose_plan(tenant_id: int, event_key: str, contact: dict[str, Any], segment: str) -> dict[str, Any]:
    """Pick the message plan for segment x stage x language."""
    c = container()
    started = time.perf_counter()
    now = c.clock.now()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    language, language_reason = resolve_language(contact, playbook)
    plan = pick_plan(playbook, purpose="outreach", segment=segment, stage=contact["stage"], language=language)
    variant = assign_variant(plan, contact["external_id"])
    chosen = {
        "plan": plan.name,
        "template": variant.template if variant else plan.template,
        "variant": variant.name if variant else None,
        "language": language,
        "tone": plan.tone,
        "call_to_action": plan.call_to_action,
        "follow_up": True,
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
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return chosen


@DBOS.workflow(name="lead")
def lead_workflow(tenant_id: int, event_key: str) -> dict[str, Any]:
    """upsert contact -> classify -> pick plan -> compose -> check -> send -> schedule follow-up."""
    adopt_trace(tenant_id, event_key)
    event = begin_event(tenant_id, event_key)
    try:
        contact = upsert_contact(tenant_id, event_key, event["payload"])
        segment = classify_segment(tenant_id, event_key, contact["id"])
        if str((event["payload"].get("data") or {}).get("source") or "").endswith("-sync"):
            # A contact backfilled from the CRM is history, not a new lead: no first message.
            return {**segment, "status": finish_event(tenant_id, event_key, "lead.created", "done"), "backfill": True}
        plan = choose_plan(tenant_id, event_key, contact, segment["segment"])
        draft = compose_draft(tenant_id, event_key, contact["id"], plan, "outreach")
        if draft["waiting"]:
            parked = park_for_model(
                tenant_id, event_key, contact["id"], plan, "outreach", segment["segment"], draft["retry_at"]
            )
            return {**parked, "status": finish_event(tenant_id, event_key, "lead.created", "deferred")}
        checked = check_draft(tenant_id, event_key, contact["id"], draft, plan, "outreach", segment)
        if checked["status"] == "deferred":
            return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "deferred")}
        if checked["status"] != "pending":
            return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "done")}
        send_and_follow_up(tenant_id, checked["message_id"], contact["id"], event_key)
        write_back_or_report(
            tenant_id,
            event_key,
            contact["id"],
            {
                "segment": segment["segment"],
                "note": f"nightcrew: segment {segment['segment']} ({segment['reason']}); first message sent "
                f"({plan['plan']}, {plan['language']})",
            },
        )
        return {**checked, "status": finish_event(tenant_id, event_key, "lead.created", "done")}
    except Exception as exc:
        # Cancellation and ownership conflicts are BaseExceptions in DBOS and pass through untouched.
        finish_event(tenant_id, event_key, "lead.created", "failed", f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
