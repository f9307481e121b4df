"""``record()``: every decision and side effect becomes an action with its reason."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from nightcrew.observe.metrics import ACTIONS
from nightcrew.observe.models import Action
from nightcrew.observe.repository import ActionRepository
from nightcrew.observe.tracing import current_trace_id


def record(
    session: Session,
    tenant_id: int,
    *,
    kind: str,
    step: str,
    now: datetime,
    workflow_id: str | None = None,
    event_key: str | None = None,
    contact_id: int | None = None,
    input: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    reason: str = "",
    confidence: float | None = None,
    model: str | None = None,
    tier: str | None = None,
    cost_usd: float = 0.0,
    duration_ms: float = 0.0,
    trace_id: str | None = None,
    dedupe_key: str | None = None,
) -> Action:
    """Write one audit-log entry (once per workflow step, even when the step is re-run)."""
    key = dedupe_key or (f"{workflow_id}:{step}" if workflow_id else f"{kind}:{uuid.uuid4().hex}")
    action = ActionRepository(session, tenant_id).insert_once(
        Action(
            contact_id=contact_id,
            event_key=event_key,
            workflow_id=workflow_id,
            step=step,
            kind=kind,
            dedupe_key=key,
            input=input or {},
            output=output or {},
            reason=reason,
            confidence=confidence,
            model=model,
            tier=tier,
            cost_usd=cost_usd,
            duration_ms=round(duration_ms, 3),
            trace_id=trace_id or current_trace_id(),
            created_at=now,
        )
    )
    ACTIONS.labels(kind=kind).inc()
    return action
