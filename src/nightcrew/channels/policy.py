"""The outbound gate: gather what the guardrails need from the contact's history, then run the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from nightcrew.channels.repository import OutboxRepository
from nightcrew.channels.twilio import UNDELIVERED
from nightcrew.crm.models import Contact
from nightcrew.events.repository import EventRepository
from nightcrew.guardrails.context import Confidence, ContactInfo, Draft, GuardrailContext, Purpose, SentMessage
from nightcrew.guardrails.pipeline import GuardrailOutcome, run_guardrails
from nightcrew.guardrails.policy import PolicySet
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.observe.metrics import VERDICTS

# Frequency caps look back a week at most.
_LOOKBACK = timedelta(days=7)
_CHANNELS = ("sms", "whatsapp", "email")


def contact_info(contact: Contact) -> ContactInfo:
    """The contact as the checks see it."""
    return ContactInfo(
        id=contact.external_id,
        name=contact.name,
        language=contact.language,
        timezone=contact.timezone,
        phone=contact.phone,
        email=contact.email,
        location=contact.location,
        consent=contact.consent,
        opted_out_at=contact.consent_updated_at if contact.consent == "opted_out" else None,
    )


def guardrail_context(
    session: Session,
    tenant_id: int,
    contact: Contact,
    *,
    channel: str,
    purpose: Purpose,
    now: datetime,
    draft_source: str = "template",
    confidence: Confidence | None = None,
    facts: tuple[str, ...] = (),
    exclude_message_id: int | None = None,
) -> GuardrailContext:
    """Everything about this moment of sending, read from the database once."""
    sends = [
        SentMessage(at=m.sent_at, channel=m.channel)
        for m in OutboxRepository(session, tenant_id).sent_since(contact.id, now - _LOOKBACK)
        if m.sent_at is not None
        and m.sent_at <= now
        and m.channel in _CHANNELS
        and m.id != exclude_message_id
        # What the provider reported undelivered never reached the contact: it uses up no cap.
        and m.delivery_status not in UNDELIVERED
    ]
    inbound = EventRepository(session, tenant_id).last_inbound(contact.external_id)
    inbound_text = str(inbound.payload.get("data", {}).get("text")) if inbound is not None else None
    return GuardrailContext(
        now=now,
        channel=channel if channel in _CHANNELS else "sms",
        purpose=purpose,
        contact=contact_info(contact),
        recent_sends=tuple(sends),
        last_inbound_text=inbound_text,
        last_inbound_at=contact.last_inbound_at,
        draft_source=draft_source,
        confidence=confidence or Confidence(),
        facts=facts,
    )


def check_outbound(
    session: Session,
    tenant_id: int,
    policy: PolicySet,
    contact: Contact,
    text: str,
    *,
    channel: str,
    purpose: Purpose,
    now: datetime,
    draft_source: str = "template",
    confidence: Confidence | None = None,
    template: str | None = None,
    product: str | None = None,
    exclude_message_id: int | None = None,
) -> GuardrailOutcome:
    """Run every guardrail on a draft for this contact now; counts each verdict in the metrics."""
    context = guardrail_context(
        session,
        tenant_id,
        contact,
        channel=channel,
        purpose=purpose,
        now=now,
        draft_source=draft_source,
        confidence=confidence,
        exclude_message_id=exclude_message_id,
    )
    outcome = run_guardrails(Draft(text=text, template=template, product=product), context, policy)
    for verdict in outcome.verdicts:
        VERDICTS.labels(check=verdict.check, verdict=verdict.kind.value).inc()
    return outcome


MESSAGE_STATUS = {
    VerdictKind.PASS: "pending",
    VerdictKind.REVISE: "pending",
    VerdictKind.DEFER: "deferred",
    VerdictKind.REVIEW: "review",
    VerdictKind.BLOCK: "blocked",
}
