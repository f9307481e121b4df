"""An inbound message: understand it (language, intent), route it to a team, act, reply in the contact's language."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dbos import DBOS

from nightcrew.ai.router import CallContext
from nightcrew.ai.structured import Classification
from nightcrew.ai.tasks import detect_language
from nightcrew.channels.repository import OutboxRepository
from nightcrew.compose.plans import pick_plan, plan_copy
from nightcrew.crm.assignment import assign_team
from nightcrew.crm.repository import ContactRepository, contact_values
from nightcrew.crm.service import AUTOMATED_PURPOSES, resolve_language
from nightcrew.db import transaction
from nightcrew.guardrails.places import resolve_country
from nightcrew.intelligence.intents import INTENTS, OPT_OUT, OTHER
from nightcrew.observe import audit
from nightcrew.observe.outcomes import record_outcome
from nightcrew.workflows.common import adopt_trace, begin_event, finish_event, send_and_follow_up, workflow_id
from nightcrew.workflows.crm_sync import write_back_or_report
from nightcrew.workflows.handoff import summarise_handoff
from nightcrew.workflows.lead import upsert_contact
from nightcrew.workflows.outbound import check_draft, compose_draft, park_for_model
from nightcrew.workflows.runtime import container, step
from nightcrew.workflows.stage import move_stage

# The intent model's probability of an opt-out (it is calibrated) from which a person looks before we answer.
POSSIBLE_OPT_OUT = 0.15
# Intents after which the agent does not keep chasing: a person or the contact's own decision takes over.
NO_FOLLOW_UP = {"opt_out", "not_interested", "human", "complaint", "cancel"}
_INTENT_LABELS = {intent: "" for intent in (*INTENTS, OTHER)}


@step("inbound.understand")
def understand(tenant_id: int, event_key: str, contact_id: int, text: str) -> dict[str, Any]:
    """Detect the language (the contact's known language as the prior) and classify the intent (cheap tier first)."""
    c = container()
    started = time.perf_counter()
    tenant = c.tenant_by_id(tenant_id)
    playbook = c.playbook(tenant)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        # The contact's own language; failing that, the one we have been writing to them in, or their country's.
        prior: str | None = contact.language if contact.language in playbook.languages else None
        if prior is None:
            last = OutboxRepository(session, tenant_id).latest(contact.id)
            if last is not None and last.language in playbook.languages:
                prior = last.language
            else:
                guessed, source = resolve_language(contact_values(contact), playbook)
                prior = guessed if source.startswith("country") else None
        external_id = contact.external_id
    guess = detect_language(
        c.router(tenant),
        playbook,
        text,
        prior=prior,
        context=CallContext(tenant=tenant.slug, contact=external_id, call_id=f"{wid}:inbound.understand:language"),
    )
    threshold = playbook.thresholds.intent_confidence
    active = c.models.active_intent_model_version(tenant)
    model, model_name = (
        (active[0], f"intent-model-v{active[1]}") if active else (c.intent_model(tenant), "intent-bundled")
    )
    local = model.predict(text, threshold)
    cascade = c.router(tenant).classify(
        "classify_intent",
        text,
        labels=_INTENT_LABELS,
        local=lambda: Classification(
            label=local.intent,
            confidence=local.confidence,
            reason=f"opt-out rule {local.rule}" if local.rule else f"runner-up {local.runner_up}",
        ),
        context=CallContext(tenant=tenant.slug, contact=external_id, call_id=f"{wid}:inbound.understand"),
    )
    final = cascade.value
    intent = final.label if final.label == OTHER or final.confidence >= threshold else OTHER
    from nightcrew.intelligence.intents.classifier import CERTAIN_OPT_OUT_CONFIDENCE

    certain_opt_out = local.rule is not None or (intent == OPT_OUT and final.confidence >= CERTAIN_OPT_OUT_CONFIDENCE)
    answers = [
        {
            "tier": a.tier,
            "model": a.model or model_name,
            "label": a.value.label,
            "confidence": round(a.value.confidence, 3),
            "source": a.source,
        }
        for a in cascade.answers
    ]
    result: dict[str, Any] = {
        "language": guess.language,
        "language_confidence": round(guess.confidence, 3),
        "language_source": guess.source,
        "language_tier": guess.routing["tier"],
        "intent": intent,
        "confidence": round(final.confidence, 3),
        "runner_up": local.runner_up,
        "rule": local.rule,
        "certain_opt_out": certain_opt_out,
        # An opt-out the model gives a real chance (not merely second place at 0.2%) waits for a person to confirm.
        "possible_opt_out": intent == OPT_OUT or local.scores.get(OPT_OUT, 0.0) >= POSSIBLE_OPT_OUT,
        "answers": answers,
        "escalated": cascade.escalated,
        "intent_model": model_name,
        "prior": prior,
    }
    cost = sum(r.cost_usd for r in cascade.records) + guess.cost_usd
    with transaction(c.sessions) as session:
        audit.record(
            session,
            tenant_id,
            kind="inbound.understood",
            step="inbound.understand",
            now=c.clock.now(),
            workflow_id=wid,
            event_key=event_key,
            contact_id=contact_id,
            input={"text": text, "prior": prior},
            output=result,
            reason=f"language {guess.language} ({guess.source}, {guess.confidence:.2f}); intent {intent} "
            f"({final.confidence:.2f}"
            + (", escalated to the capable tier" if cascade.escalated else "")
            + (f"; below threshold {threshold:.2f}" if intent == OTHER and final.label != OTHER else "")
            + ")",
            confidence=final.confidence,
            model=str(answers[-1]["model"]),
            tier=cascade.final.tier,
            cost_usd=cost,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return result


@step("inbound.record")
def record_inbound(
    tenant_id: int, event_key: str, contact_id: int, understood: dict[str, Any], occurred_at: str, channel: str
) -> dict[str, Any]:
    """Note the reply on the contact (its language if unknown) and stop pending follow-ups: a reply ends a sequence."""
    c = container()
    now = c.clock.now()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id, for_update=True)
        assert contact is not None
        at = datetime.fromisoformat(occurred_at)
        contact.last_inbound_at = max(at, contact.last_inbound_at) if contact.last_inbound_at else at
        learned = contact.language is None
        if learned:
            contact.language = understood["language"]
        contact.updated_at = now
        stopped = c.contacts.stop_followups(session, tenant_id, contact.id, "the contact replied", now)
        window = c.playbook(c.tenant_by_id(tenant_id)).attribution.window_hours
        record_outcome(
            session,
            tenant_id,
            contact_id=contact.id,
            kind="replied",
            at=at,
            window_hours=window,
            event_key=event_key,
            dedupe=f"{event_key}:replied",
        )
        audit.record(
            session,
            tenant_id,
            kind="inbound.received",
            step="inbound.record",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact.id,
            input={"channel": channel, "intent": understood["intent"]},
            output={"followups_cancelled": stopped, "language_learned": understood["language"] if learned else None},
            reason="inbound message" + (f"; {stopped} pending follow-up(s) stopped" if stopped else ""),
        )
        return {"followups_cancelled": stopped, **contact_values(contact)}


@step("inbound.route")
def route(tenant_id: int, event_key: str, contact_id: int, understood: dict[str, Any], text: str) -> dict[str, Any]:
    """Assign the conversation to a team; intents that need a person open a hand-off in the review queue."""
    c = container()
    now = c.clock.now()
    tenant = c.tenant_by_id(tenant_id)
    playbook = c.playbook(tenant)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id, for_update=True)
        assert contact is not None
        intent = understood["intent"]
        assigned = assign_team(
            playbook,
            intent=intent,
            segment=contact.segment,
            language=understood["language"],
            country=resolve_country(contact.location, contact.phone),
        )
        uncertain_opt_out = understood["possible_opt_out"] and not understood["certain_opt_out"]
        handoff = assigned.handoff or intent == OTHER or uncertain_opt_out
        contact.team, contact.updated_at = assigned.team, now
        if assigned.handoff:
            # A person takes the conversation: automated sequences stop for this contact.
            contact.human_takeover = True
            c.contacts.stop_followups(
                session, tenant_id, contact.id, "a person took over", now, withdraw=(*AUTOMATED_PURPOSES, "reply")
            )
        reasons = [assigned.reason]
        if intent == OTHER:
            reasons.append(f"intent unclear (confidence {understood['confidence']:.2f})")
        if uncertain_opt_out:
            reasons.append("may be an opt-out: a person confirms before anything else is sent")
        review_id = None
        if handoff:
            review_id = c.review.open(
                session,
                tenant_id,
                contact_id=contact.id,
                kind="handoff",
                reasons=reasons,
                now=now,
                deadline_hours=playbook.review.deadline_hours,
                dedupe_key=f"{wid}:handoff",
                workflow_id=wid,
                event_key=event_key,
                context={
                    "team": assigned.team,
                    "intent": intent,
                    "intent_confidence": understood["confidence"],
                    "language": understood["language"],
                    "inbound_text": text,
                    "segment": contact.segment,
                },
            ).id
        audit.record(
            session,
            tenant_id,
            kind="inbound.routed",
            step="inbound.route",
            now=now,
            workflow_id=wid,
            event_key=event_key,
            contact_id=contact.id,
            input={"intent": intent, "language": understood["language"], "segment": contact.segment},
            output={
                "team": assigned.team,
                "rule": assigned.rule,
                "handoff": handoff,
                "uncertain_opt_out": uncertain_opt_out,
            },
            reason="; ".join(reasons),
        )
        return {
            "team": assigned.team,
            "rule": assigned.rule,
            "handoff": handoff,
            "uncertain_opt_out": uncertain_opt_out,
            "takeover": assigned.handoff,
            "review_id": review_id,
        }


@step("inbound.opt_out")
def withdraw_consent(tenant_id: int, event_key: str, contact_id: int, text: str, rule: str | None) -> dict[str, Any]:
    """The contact opted out: record it at once; nothing but the single confirmation goes out after this."""
    c = container()
    now = c.clock.now()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id, for_update=True)
        assert contact is not None
        contact.consent, contact.consent_updated_at, contact.updated_at = "opted_out", now, now
        stopped = c.contacts.stop_followups(
            session,
            tenant_id,
            contact.id,
            "the contact opted out",
            now,
            withdraw=(*AUTOMATED_PURPOSES, "reply", "confirmation"),
        )
        window = c.playbook(c.tenant_by_id(tenant_id)).attribution.window_hours
        record_outcome(
            session,
            tenant_id,
            contact_id=contact.id,
            kind="opted_out",
            at=now,
            window_hours=window,
            event_key=event_key,
            dedupe=f"{event_key}:opted_out",
        )
        audit.record(
            session,
            tenant_id,
            kind="consent.withdrawn",
            step="inbound.opt_out",
            now=now,
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact.id,
            input={"text": text, "rule": rule},
            output={"consent": "opted_out", "followups_cancelled": stopped},
            reason=f"opt-out ({'rule ' + rule if rule else 'intent model'}); no further outbound of any kind",
        )
        return contact_values(contact)


@step("inbound.pick_reply")
def pick_reply(
    tenant_id: int, event_key: str, contact: dict[str, Any], intent: str, language: str, purpose: str
) -> dict[str, Any]:
    """The reply plan for this intent in the contact's language."""
    c = container()
    playbook = c.playbook(c.tenant_by_id(tenant_id))
    plan = pick_plan(
        playbook,
        purpose=purpose,  # type: ignore[arg-type]
        segment=contact.get("segment"),
        stage=contact.get("stage"),
        language=language,
        intent=intent,
    )
    return {
        "plan": plan.name,
        **plan_copy(plan, contact["external_id"]),
        "language": language,
        "tone": plan.tone,
        "call_to_action": plan.call_to_action,
        "intent": intent,
    }


def _reply(
    tenant_id: int,
    event_key: str,
    contact: dict[str, Any],
    understood: dict[str, Any],
    text: str,
    purpose: str,
    follow_up: bool,
) -> dict[str, Any]:
    plan = {
        **pick_reply(tenant_id, event_key, contact, understood["intent"], understood["language"], purpose),
        "follow_up": follow_up,
    }
    draft = compose_draft(tenant_id, event_key, contact["id"], plan, purpose, text)
    if draft["waiting"]:
        return park_for_model(
            tenant_id, event_key, contact["id"], plan, purpose, contact.get("segment"), draft["retry_at"]
        )
    intent_confidence = understood["confidence"] if understood["intent"] not in (OTHER, OPT_OUT) else None
    checked = check_draft(
        tenant_id,
        event_key,
        contact["id"],
        draft,
        plan,
        purpose,  # type: ignore[arg-type]
        None,
        intent_confidence,
    )
    if checked["status"] == "pending":
        send_and_follow_up(tenant_id, checked["message_id"], contact["id"], event_key, follow_up=follow_up)
    return checked


@DBOS.workflow(name="inbound")
def inbound_workflow(tenant_id: int, event_key: str) -> dict[str, Any]:
    """upsert contact -> understand -> record (stops follow-ups) -> route -> act -> reply in the contact's language."""
    adopt_trace(tenant_id, event_key)
    event = begin_event(tenant_id, event_key)
    try:
        payload = event["payload"]
        data = payload["data"]
        contact = upsert_contact(tenant_id, event_key, {"contact": payload["contact"], "data": {}})
        understood = understand(tenant_id, event_key, contact["id"], data["text"])
        contact = record_inbound(tenant_id, event_key, contact["id"], understood, event["occurred_at"], data["channel"])
        routed = route(tenant_id, event_key, contact["id"], understood, data["text"])
        intent = understood["intent"]
        outcome: dict[str, Any] = {"intent": intent, "team": routed["team"], "handoff": routed["handoff"]}
        if routed.get("takeover"):  # human, complaint, or a rule's hand-off: the team gets a summary
            outcome["summary"] = summarise_handoff(tenant_id, event_key, contact["id"], understood, routed)["summary"]
        playbook = container().playbook(container().tenant_by_id(tenant_id))
        if intent == OPT_OUT and understood["certain_opt_out"]:
            contact = withdraw_consent(tenant_id, event_key, contact["id"], data["text"], understood["rule"])
            outcome["reply"] = _reply(
                tenant_id, event_key, contact, understood, data["text"], "opt_out_confirmation", follow_up=False
            )
        elif not routed["uncertain_opt_out"]:
            action = playbook.intents.get(intent)
            if action is not None and action.stage is not None:
                moved = move_stage(tenant_id, event_key, contact["id"], action.stage, f"inbound intent {intent}")
                contact = {**contact, "stage": moved["to"]}
            if action is None or action.reply:
                outcome["reply"] = _reply(
                    tenant_id,
                    event_key,
                    contact,
                    understood,
                    data["text"],
                    "reply",
                    follow_up=intent not in NO_FOLLOW_UP and not routed["handoff"],
                )
        write_back_or_report(
            tenant_id,
            event_key,
            contact["id"],
            {
                "team": routed["team"],
                "stage": contact.get("stage") if playbook.intents.get(intent) else None,
                "note": f"nightcrew: inbound {understood['language']} message, intent {intent} "
                f"({understood['confidence']:.2f}); routed to {routed['team']}"
                + ("; a person must take over" if routed["handoff"] else ""),
            },
        )
        status = "deferred" if outcome.get("reply", {}).get("status") in ("deferred", "awaiting_model") else "done"
        return {**outcome, "status": finish_event(tenant_id, event_key, "message.received", status)}
    except Exception as exc:
        finish_event(tenant_id, event_key, "message.received", "failed", f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
