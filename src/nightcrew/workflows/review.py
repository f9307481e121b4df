"""Edge operations for review decisions: decide in one transaction, then start the send workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos import DBOS, SetWorkflowID
from sqlalchemy.orm import Session

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.channels.models import Message
from nightcrew.channels.policy import check_outbound
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.review.models import ReviewItem
from nightcrew.review.service import Gate, GateResult, item_dict
from nightcrew.workflows.delivery import deliver_waiting
from nightcrew.workflows.runtime import DELIVERIES_QUEUE, is_launched, queue


def _gate(container: Container, tenant: TenantRef) -> Gate:
    policy = container.policy(tenant)

    def gate(session: Session, item: ReviewItem, message: Message, text: str, now: datetime) -> GateResult:
        contact = ContactRepository(session, tenant.id).get(message.contact_id)
        assert contact is not None
        outcome = check_outbound(
            session,
            tenant.id,
            policy,
            contact,
            text,
            channel=message.channel,
            purpose=message.purpose,  # type: ignore[arg-type]
            now=now,
            draft_source="human",
            exclude_message_id=message.id,
            # An unedited template stays the WhatsApp-approved template it was rendered from.
            template=message.template if message.source == "template" and text == message.body else None,
        )
        # Approving the draft as it stands settles the 'review' verdicts it was sent to a person for (the reasons
        # stay in the audit log). An edited text is new: it must pass on its own, like any draft, and a reviewer
        # can approve low confidence but never a 'block'.
        edited = text.strip() != (item.draft or message.body).strip()
        refused_kinds = ("block", "review") if edited else ("block",)
        refusing = [v for v in outcome.verdicts if v.kind.value in refused_kinds and v.check != "confidence"]
        if refusing:
            strongest = "block" if any(v.kind.value == "block" for v in refusing) else "review"
            return GateResult(strongest, [f"{v.check}: {v.reason}" for v in refusing])
        return GateResult("defer" if outcome.until else "pass", outcome.reasons, outcome.until, outcome.text)

    return gate


def approve_item(
    container: Container,
    tenant: TenantRef,
    item_id: int,
    *,
    reviewer: str,
    text: str | None,
    correction: dict[str, str],
    note: str | None,
) -> dict[str, Any]:
    """Approve a review item and, when its message may go now, start its delivery workflow."""
    now = container.clock.now()
    with transaction(container.sessions) as session:
        item, message = container.review.approve(
            session,
            tenant.id,
            item_id,
            reviewer=reviewer,
            now=now,
            gate=_gate(container, tenant),
            text=text,
            correction=correction,
            note=note,
        )
        result = item_dict(item)
        send_now = message is not None and message.status == "pending"
        message_id = message.id if message is not None else None
        result["message_status"] = message.status if message is not None else None
    if send_now and message_id is not None and is_launched():
        with SetWorkflowID(f"review:{item_id}:send"):
            queue(DELIVERIES_QUEUE).enqueue(deliver_waiting, tenant.id, message_id)
    return result


def reject_item(
    container: Container, tenant: TenantRef, item_id: int, *, reviewer: str, reason: str, correction: dict[str, str]
) -> dict[str, Any]:
    """Reject a review item: its draft is never sent."""
    with transaction(container.sessions) as session:
        item = container.review.reject(
            session,
            tenant.id,
            item_id,
            reviewer=reviewer,
            reason=reason,
            now=container.clock.now(),
            correction=correction,
        )
        return item_dict(item)


def wait_for_review_send(item_id: int) -> Any:
    """Block until the send workflow an approval started has finished (tests and the CLI)."""
    return DBOS.retrieve_workflow(f"review:{item_id}:send").get_result()
