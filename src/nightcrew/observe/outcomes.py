"""Outcome attribution: what a contact did, linked to the outbound message that preceded it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from nightcrew.channels.repository import OutboxRepository
from nightcrew.observe.models import Outcome
from nightcrew.observe.repository import OutcomeRepository

OUTCOME_KINDS = ("replied", "booked", "cancelled", "opted_out", "won")


def record_outcome(
    session: Session,
    tenant_id: int,
    *,
    contact_id: int,
    kind: str,
    at: datetime,
    window_hours: float,
    event_key: str | None,
    dedupe: str,
) -> Outcome:
    """Link the outcome to the last message sent to the contact within the window (or to none)."""
    message = OutboxRepository(session, tenant_id).last_sent_before(contact_id, at, at - timedelta(hours=window_hours))
    return OutcomeRepository(session, tenant_id).insert_once(
        Outcome(
            contact_id=contact_id,
            kind=kind,
            at=at,
            dedupe_key=dedupe,
            event_key=event_key,
            message_id=message.id if message else None,
            plan=message.plan if message else None,
            template=message.template if message else None,
            variant=message.variant if message else None,
            segment=message.segment if message else None,
            language=message.language if message else None,
            path=message.path if message else None,
        )
    )


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a rate (honest for small counts)."""
    if trials == 0:
        return (0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def with_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each outcome's rate per message sent, with its 95% interval."""
    out = []
    for row in rows:
        sent = int(row.get("sent", 0))
        enriched = dict(row)
        for kind in OUTCOME_KINDS:
            count = int(row.get(kind, 0))
            enriched[kind] = count
            low, high = wilson_interval(count, sent)
            enriched[f"{kind}_rate"] = round(count / sent, 4) if sent else 0.0
            enriched[f"{kind}_ci95"] = [round(low, 4), round(high, 4)]
        out.append(enriched)
    return out
