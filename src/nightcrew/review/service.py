"""Review rules: open an item, approve (edited text is re-checked), reject; corrections become training labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from nightcrew.channels.models import Message
from nightcrew.channels.repository import OutboxRepository
from nightcrew.crm.repository import ContactRepository
from nightcrew.errors import Conflict, NotFound, ValidationFailed
from nightcrew.observe import audit
from nightcrew.review.models import LabelledExample, ReviewItem
from nightcrew.review.repository import ExampleRepository, ReviewRepository


@dataclass(frozen=True)
class GateResult:
    """What the guardrails say about a reviewer's text: 'pass', 'defer' (with until) or a refusal."""

    verdict: str
    reasons: list[str]
    until: datetime | None = None
    text: str | None = None


# Re-checks a reviewer's text for the item's contact and channel at ``now``.
Gate = Callable[[Session, ReviewItem, Message, str, datetime], GateResult]


def item_dict(item: ReviewItem) -> dict[str, Any]:
    """A review item as JSON."""
    return {
        "id": item.id,
        "kind": item.kind,
        "status": item.status,
        "contact_id": item.contact_id,
        "message_id": item.message_id,
        "reasons": item.reasons,
        "draft": item.draft,
        "context": item.context,
        "deadline": item.deadline.isoformat(),
        "created_at": item.created_at.isoformat(),
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "decided_by": item.decided_by,
        "decision_note": item.decision_note,
        "final_text": item.final_text,
        "correction": item.correction,
        "event_id": item.event_key,
    }


class ReviewService:
    """The human review queue."""

    def open(
        self,
        session: Session,
        tenant_id: int,
        *,
        contact_id: int,
        kind: str,
        reasons: list[str],
        now: datetime,
        deadline_hours: float,
        dedupe_key: str,
        draft: str | None = None,
        message_id: int | None = None,
        context: dict[str, Any] | None = None,
        workflow_id: str | None = None,
        event_key: str | None = None,
    ) -> ReviewItem:
        """Put something in front of a person (once per ``dedupe_key``)."""
        return ReviewRepository(session, tenant_id).insert_once(
            ReviewItem(
                contact_id=contact_id,
                message_id=message_id,
                kind=kind,
                status="open",
                dedupe_key=dedupe_key,
                reasons=reasons,
                draft=draft,
                context=context or {},
                deadline=now + timedelta(hours=deadline_hours),
                workflow_id=workflow_id,
                event_key=event_key,
                created_at=now,
                correction={},
            )
        )

    def _open_item(self, session: Session, tenant_id: int, item_id: int) -> ReviewItem:
        item = ReviewRepository(session, tenant_id).get(item_id, for_update=True)
        if item is None:
            raise NotFound(f"review item #{item_id} not found")
        if item.status != "open":
            raise Conflict(f"review item #{item_id} was already {item.status} by {item.decided_by or 'someone'}")
        return item

    def approve(
        self,
        session: Session,
        tenant_id: int,
        item_id: int,
        *,
        reviewer: str,
        now: datetime,
        gate: Gate,
        text: str | None = None,
        correction: dict[str, str] | None = None,
        note: str | None = None,
    ) -> tuple[ReviewItem, Message | None]:
        """Approve an item; an edited draft is re-checked and refused when the guardrails refuse it."""
        item = self._open_item(session, tenant_id, item_id)
        message = OutboxRepository(session, tenant_id).get(item.message_id) if item.message_id else None
        overridden: list[str] = []
        if message is not None:
            final = (text or item.draft or message.body).strip()
            if not final:
                raise ValidationFailed("the approved text is empty")
            result = gate(session, item, message, final, now)
            if result.verdict not in ("pass", "defer", "revise"):
                raise ValidationFailed(
                    f"the text does not pass the guardrails ({result.verdict})", details=result.reasons
                )
            overridden = [r for r in result.reasons if not r.startswith("confidence:")]
            message.body = result.text or final
            message.status = "deferred" if result.verdict == "defer" else "pending"
            message.send_after = result.until if result.verdict == "defer" else message.send_after
            message.updated_at = now
            item.final_text = message.body
        item.status, item.decided_at, item.decided_by, item.decision_note = "approved", now, reviewer, note
        self._store_correction(session, tenant_id, item, correction or {}, now)
        audit.record(
            session,
            tenant_id,
            kind="review.approved",
            step="review.approve",
            now=now,
            contact_id=item.contact_id,
            event_key=item.event_key,
            dedupe_key=f"review:{item.id}:approved",
            input={"item_id": item.id, "edited": bool(text and text.strip() != (item.draft or "").strip())},
            output={
                "message_id": item.message_id,
                "status": message.status if message else None,
                "correction": item.correction,
                "approved_over": overridden,
            },
            reason=f"approved by {reviewer}"
            + (f": {note}" if note else "")
            + (f" (over: {'; '.join(overridden)})" if overridden else ""),
        )
        return item, message

    def reject(
        self,
        session: Session,
        tenant_id: int,
        item_id: int,
        *,
        reviewer: str,
        reason: str,
        now: datetime,
        correction: dict[str, str] | None = None,
    ) -> ReviewItem:
        """Reject an item: its draft is never sent."""
        if not reason.strip():
            raise ValidationFailed("a rejection needs a reason")
        item = self._open_item(session, tenant_id, item_id)
        if item.message_id:
            message = OutboxRepository(session, tenant_id).get(item.message_id)
            if message is not None and message.status in ("review", "pending", "deferred"):
                message.status, message.error, message.updated_at = "rejected", reason, now
        item.status, item.decided_at, item.decided_by, item.decision_note = "rejected", now, reviewer, reason
        self._store_correction(session, tenant_id, item, correction or {}, now)
        audit.record(
            session,
            tenant_id,
            kind="review.rejected",
            step="review.reject",
            now=now,
            contact_id=item.contact_id,
            event_key=item.event_key,
            dedupe_key=f"review:{item.id}:rejected",
            input={"item_id": item.id},
            output={"message_id": item.message_id, "correction": item.correction},
            reason=f"rejected by {reviewer}: {reason}",
        )
        return item

    def _store_correction(
        self, session: Session, tenant_id: int, item: ReviewItem, correction: dict[str, str], now: datetime
    ) -> None:
        """A reviewer's segment or intent becomes a labelled example for the next training run."""
        unknown = set(correction) - {"segment", "intent"}
        if unknown:
            raise ValidationFailed(f"corrections can set segment or intent, not {sorted(unknown)}")
        if not correction:
            return
        item.correction = dict(correction)
        examples = ExampleRepository(session, tenant_id)
        contact = ContactRepository(session, tenant_id).get(item.contact_id)
        if "segment" in correction:
            examples.add(
                LabelledExample(
                    kind="segment",
                    label=correction["segment"],
                    features=dict(contact.fields) if contact else {},
                    predicted=item.context.get("segment"),
                    contact_id=item.contact_id,
                    review_item_id=item.id,
                    created_at=now,
                )
            )
            if contact is not None:
                contact.segment, contact.segment_model, contact.updated_at = correction["segment"], "reviewer", now
        if "intent" in correction:
            examples.add(
                LabelledExample(
                    kind="intent",
                    label=correction["intent"],
                    text=item.context.get("inbound_text"),
                    language=item.context.get("language"),
                    predicted=item.context.get("intent"),
                    contact_id=item.contact_id,
                    review_item_id=item.id,
                    created_at=now,
                )
            )
