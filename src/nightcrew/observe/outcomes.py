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


# The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval for a rate (honest for small counts); (0, 1) without trials: nothing known."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if z <= 0:
        raise ValueError("z must be positive")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # Rounding can push the bounds a hair outside [0, 1] (or past p) at the extremes.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def with_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each outcome's rate per message sent, with its 95% interval."""
    out = []
    for row in rows:
        sent = int(row.get("sent", 0))
        enriched = dict(row)
        for kind in OUTCOME_KINDS:
            count = int(row.get(kind, 0))
            enriched[kind] = count
            # With ``since``, a message sent before it can still be answered after it: never more than all of them.
            low, high = wilson_interval(min(count, sent), sent)
            enriched[f"{kind}_rate"] = round(count / sent, 4) if sent else 0.0
            enriched[f"{kind}_ci95"] = [round(low, 4), round(high, 4)]
        out.append(enriched)
    return out
