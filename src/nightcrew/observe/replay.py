"""Replay a recorded decision from its stored inputs, with the same model or another; shadow-run a period.

"The AI did something weird" becomes a question with an answer: given exactly what it saw, does the same
model decide the same today, and what would another model (or the current playbook) have decided?
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from nightcrew.crm.assignment import assign_team
from nightcrew.crm.repository import ContactRepository, contact_values
from nightcrew.db import transaction
from nightcrew.errors import NotFound, ValidationFailed
from nightcrew.events.repository import EventRepository
from nightcrew.guardrails.places import resolve_country
from nightcrew.intelligence.decisions import decide_language_and_intent, decide_segment
from nightcrew.intelligence.repository import ModelVersionRepository
from nightcrew.observe.repository import ActionRepository

if TYPE_CHECKING:
    from nightcrew.bootstrap import Container, TenantRef

REPLAYABLE = ("lead.classified", "inbound.understood", "message.composed", "guardrail.verdict")


def _lead_model(c: Container, tenant: TenantRef, label: str | None, override: int | None) -> tuple[Any, int | None]:
    wanted = override if override is not None else (int(label.rsplit("v", 1)[1]) if label and "-v" in label else None)
    if wanted is None:
        return None, None
    with transaction(c.sessions) as session:
        row = ModelVersionRepository(session, tenant.id).get("lead", wanted)
        if row is None:
            raise NotFound(f"no lead model version {wanted}")
        return c.models.load_lead_version(row), wanted


def _intent_model(c: Container, tenant: TenantRef, label: str | None, override: int | None) -> tuple[Any, str]:
    wanted = override if override is not None else (int(label.rsplit("v", 1)[1]) if label and "-v" in label else None)
    if wanted is None:
        from nightcrew.intelligence.intents import default_intent_model

        return default_intent_model(), "intent-bundled"
    with transaction(c.sessions) as session:
        row = ModelVersionRepository(session, tenant.id).get("intent", wanted)
        if row is None:
            raise NotFound(f"no intent model version {wanted}")
        return c.models.load_intent_version(row), f"intent-model-v{wanted}"


def replay(c: Container, tenant: TenantRef, action_id: int, *, model_version: int | None = None) -> dict[str, Any]:
    """Re-run one recorded decision; ``matches`` says whether the answer is the same."""
    with transaction(c.sessions) as session:
        action = ActionRepository(session, tenant.id).get(action_id)
        if action is None:
            raise NotFound(f"action #{action_id} not found")
        kind, recorded_input, recorded = action.kind, dict(action.input), dict(action.output)
        created_at, contact_id, model_label = action.created_at, action.contact_id, action.model
        contact = ContactRepository(session, tenant.id).get(contact_id) if contact_id else None
        contact_data = contact_values(contact) if contact else {}
    if kind not in REPLAYABLE:
        raise ValidationFailed(f"action #{action_id} is a {kind}; replayable kinds: {', '.join(REPLAYABLE)}")
    playbook = c.playbook(tenant)
    compare: tuple[str, ...]
    if kind == "lead.classified":
        model, version = _lead_model(c, tenant, model_label, model_version)
        replayed = decide_segment(playbook, model, version, dict(recorded_input.get("fields") or {}))
        compare = ("segment", "probability")
    elif kind == "inbound.understood":
        model, name = _intent_model(c, tenant, recorded.get("intent_model"), model_version)
        replayed = decide_language_and_intent(
            playbook, model, str(recorded_input.get("text", "")), recorded_input.get("prior")
        )
        replayed["intent_model"] = name
        # The recorded intent may come from the capable tier's cascade; the cheap tier's answer is the first one.
        recorded = {**recorded, "intent": recorded.get("answers", [{}])[0].get("label", recorded.get("intent"))}
        compare = ("language", "intent")
    elif kind == "message.composed":
        if recorded.get("source") != "template":
            raise ValidationFailed("a model-written draft is not replayed (it would call the provider again)")
        draft = c.composer(tenant).render(
            str(recorded_input["template"]), str(recorded_input["plan"]), str(recorded_input["language"]), contact_data
        )
        replayed = {"text": draft.text}
        compare = ("text",)
    else:
        replayed = _replay_verdict(c, tenant, recorded_input, recorded, contact_id, created_at)
        compare = ("verdict",)
    differences = [
        {"field": f, "recorded": recorded.get(f), "replayed": replayed.get(f)}
        for f in compare
        if not _same(recorded.get(f), replayed.get(f))
    ]
    return {
        "action_id": action_id,
        "kind": kind,
        "at": created_at.isoformat(),
        "model": model_label,
        "model_override": model_version,
        "matches": not differences,
        "differences": differences,
        "recorded": {f: recorded.get(f) for f in compare},
        "replayed": {f: replayed.get(f) for f in compare},
    }


def _replay_verdict(
    c: Container,
    tenant: TenantRef,
    recorded_input: dict[str, Any],
    recorded: dict[str, Any],
    contact_id: int | None,
    at: datetime,
) -> dict[str, Any]:
    from nightcrew.channels.policy import check_outbound

    if contact_id is None:
        raise ValidationFailed("this verdict has no contact to check against")
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant.id).get(contact_id)
        assert contact is not None
        outcome = check_outbound(
            session,
            tenant.id,
            c.policy(tenant),
            contact,
            str(recorded_input.get("text", "")),
            channel=str(recorded_input.get("channel") or "sms"),
            purpose=recorded_input.get("purpose", "outreach"),
            now=at,
            draft_source=str(recorded_input.get("source") or "template"),
            template=recorded_input.get("template") if recorded_input.get("source") == "template" else None,
            exclude_message_id=recorded.get("message_id"),
        )
    return {"verdict": outcome.kind.value, "reasons": outcome.reasons}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-6
    return bool(a == b)


def shadow(c: Container, tenant: TenantRef, since: datetime, until: datetime) -> dict[str, Any]:
    """Dry-run recorded events of a period against today's playbook and models; report what would change."""
    active_lead = c.models.active_lead_model(tenant)
    lead_model, lead_version = active_lead if active_lead is not None else (None, None)
    active_intent = c.models.active_intent_model_version(tenant)
    intent_model = active_intent[0] if active_intent else c.intent_model(tenant)
    playbook = c.playbook(tenant)
    changes: dict[str, list[dict[str, Any]]] = {"segment": [], "intent": [], "team": []}
    examined = {"lead.created": 0, "message.received": 0}
    with transaction(c.sessions) as session:
        events = EventRepository(session, tenant.id).between(since, until)
        actions = ActionRepository(session, tenant.id)
        for event in events:
            if event.type not in examined:
                continue
            examined[event.type] += 1
            recorded = {a.kind: a.output for a in actions.for_event(event.key)}
            if event.type == "lead.created" and "lead.classified" in recorded:
                fields = dict(event.payload.get("contact", {}).get("fields") or {})
                now = decide_segment(playbook, lead_model, lead_version, fields)
                if now["segment"] != recorded["lead.classified"].get("segment"):
                    changes["segment"].append(
                        {
                            "event": event.key,
                            "was": recorded["lead.classified"].get("segment"),
                            "would_be": now["segment"],
                            "why": now["reason"],
                        }
                    )
            if event.type == "message.received" and "inbound.understood" in recorded:
                before = recorded["inbound.understood"]
                now = decide_language_and_intent(
                    playbook, intent_model, str(event.payload["data"]["text"]), before.get("prior")
                )
                if now["intent"] != before.get("intent"):
                    changes["intent"].append(
                        {"event": event.key, "was": before.get("intent"), "would_be": now["intent"]}
                    )
                contact = event.payload.get("contact", {})
                team = assign_team(
                    playbook,
                    intent=now["intent"],
                    segment=None,
                    language=now["language"],
                    country=resolve_country(contact.get("location"), contact.get("phone")),
                ).team
                was_team = recorded.get("inbound.routed", {}).get("team")
                if was_team is not None and team != was_team:
                    changes["team"].append({"event": event.key, "was": was_team, "would_be": team})
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "examined": examined,
        "would_change": {k: len(v) for k, v in changes.items()},
        "examples": {k: v[:10] for k, v in changes.items()},
        "lead_model": f"lead-model-v{lead_version}" if lead_version else "playbook-default",
        "intent_model": f"intent-model-v{active_intent[1]}" if active_intent else "intent-bundled",
    }
