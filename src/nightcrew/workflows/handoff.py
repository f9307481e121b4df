"""A conversation handed to a person gets a short summary for the team, through the router's ``summarise`` task."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from nightcrew.ai.router import CallContext
from nightcrew.ai.tasks import Turn, local_summary, summarise_conversation
from nightcrew.channels.repository import OutboxRepository
from nightcrew.clock import ensure_utc
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.events.repository import EventRepository
from nightcrew.observe import audit
from nightcrew.review.repository import ReviewRepository
from nightcrew.workflows.common import workflow_id
from nightcrew.workflows.runtime import container, step

# Enough of the conversation to know what it is about; the team reads the rest in the timeline.
RECENT = 8


def _conversation(session: Any, tenant_id: int, contact_id: int, external_id: str) -> list[Turn]:
    """The contact's recent messages and ours, oldest first."""
    timed: list[tuple[datetime, int, Turn]] = []
    for event in EventRepository(session, tenant_id).for_contact(external_id):
        text = ((event.payload or {}).get("data") or {}).get("text")
        if event.type == "message.received" and text:
            timed.append((ensure_utc(event.occurred_at), 0, Turn("contact", str(text))))
    for message in OutboxRepository(session, tenant_id).for_contact(contact_id):
        if message.status == "sent" and message.sent_at is not None and message.body:
            timed.append((ensure_utc(message.sent_at), 1, Turn("us", message.body)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [turn for _, _, turn in timed[-RECENT:]]


@step("handoff.summarise")
def summarise_handoff(
    tenant_id: int, event_key: str, contact_id: int, understood: dict[str, Any], routed: dict[str, Any]
) -> dict[str, Any]:
    """Write the team a short summary of the conversation it takes over; keep it on the hand-off item."""
    c = container()
    started = time.perf_counter()
    tenant = c.tenant_by_id(tenant_id)
    wid = workflow_id()
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        turns = _conversation(session, tenant_id, contact.id, contact.external_id)
        fallback = local_summary(
            turns,
            name=contact.name,
            intent=understood["intent"],
            intent_confidence=understood.get("confidence"),
            language=understood["language"],
            segment=contact.segment,
            stage=contact.stage,
            team=routed.get("team"),
        )
        external_id = contact.external_id
    text, how, records = summarise_conversation(
        c.router(tenant),
        turns,
        language=understood["language"],
        local=fallback,
        context=CallContext(tenant=tenant.slug, contact=external_id, call_id=f"{wid}:handoff.summarise"),
    )
    now = c.clock.now()
    review_id = routed.get("review_id")
    with transaction(c.sessions) as session:
        item = ReviewRepository(session, tenant_id).get(review_id) if review_id else None
        if item is not None:
            item.context = {**(item.context or {}), "summary": text, "summary_source": how["source"]}
        audit.record(
            session,
            tenant_id,
            kind="handoff.summarised",
            step="handoff.summarise",
            now=now,
            workflow_id=wid,
            event_key=event_key,
            contact_id=contact_id,
            input={"turns": len(turns), "intent": understood["intent"], "team": routed.get("team")},
            output={"summary": text, "review_id": item.id if item else None, **how},
            reason=f"hand-off to {routed.get('team')}: summary from "
            + ("nightcrew's own notes" if how["source"] == "local" else f"{how['model']} on tier {how['tier']}")
            + (f" ({how['reason']})" if how["fell_back"] else ""),
            model=how["model"] or "extractive-summary",
            tier=how["tier"],
            cost_usd=sum(r.cost_usd for r in records),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return {"summary": text, "source": how["source"], "tier": how["tier"], "review_id": review_id}
