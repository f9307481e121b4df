"""What operators ask about providers and waiting work: from the ledger, the outbox and live breakers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from nightcrew.ai.repository import BreakerRepository, LedgerRepository
from nightcrew.channels.repository import DueMessages
from nightcrew.clock import ensure_utc
from nightcrew.observe.metrics import BREAKER_STATE, QUEUE_DEPTH
from nightcrew.observe.repository import QueueDepths

if TYPE_CHECKING:
    from nightcrew.bootstrap import Container

_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def stored_breakers(session: Session, urls: dict[str, str], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Each endpoint's breaker as every worker last reported it (``urls``: endpoint key -> base URL)."""
    breakers: dict[str, list[dict[str, Any]]] = {}
    for b in BreakerRepository(session).for_endpoints(urls.items()):
        if urls.get(b.endpoint) != b.base_url:
            continue
        # A circuit past its cool-down lets the next call through as a probe: it reads as half-open.
        due = b.state == "open" and b.retry_at is not None and ensure_utc(b.retry_at) <= now
        breakers.setdefault(b.endpoint, []).append(
            {
                "executor_id": b.executor_id,
                "state": "half_open" if due else b.state,
                "failures_in_a_row": b.failures,
                "times_opened": b.times_opened,
                "opened_at": b.opened_at.isoformat() if b.opened_at else None,
                "retry_at": b.retry_at.isoformat() if b.retry_at else None,
                "changed_at": b.updated_at.isoformat(),
            }
        )
    return breakers


def worst_breaker(per_worker: list[dict[str, Any]]) -> str:
    """The state an operator should see for an endpoint: the worst any worker reports (closed when none has)."""
    severity = {"open": 2, "half_open": 1, "closed": 0}
    worst = max(per_worker, key=lambda b: severity.get(b["state"], 0), default=None)
    return str(worst["state"]) if worst else "closed"


def endpoint_health_from_ledger(
    session: Session, endpoints: list[str], window: int = 20, tenant: str | None = None
) -> list[dict[str, Any]]:
    """Each endpoint's recent record in the ledger (one tenant's calls, when given): failures in a row, last success."""
    rows = []
    for endpoint in endpoints:
        recent = LedgerRepository(session).recent_for_endpoint(endpoint, window, tenant)
        streak = 0
        for call in recent:
            if call.outcome in ("ok", "fell_back"):
                break
            if call.outcome in ("failed", "retried"):
                streak += 1
        last_ok = next((c.at for c in recent if c.outcome in ("ok", "fell_back")), None)
        rows.append(
            {
                "endpoint": endpoint,
                "recent_calls": len(recent),
                "failures_in_a_row": streak,
                "last_success": last_ok.isoformat() if last_ok else None,
                "status": "failing" if streak else ("ok" if recent else "no calls yet"),
            }
        )
    return rows


def refresh_gauges(container: Container, session: Session, now: datetime) -> None:
    """Set the gauges Prometheus reads: live breaker states and how much work is waiting, by queue."""
    for router in container.routers():
        for health in router.health():
            if health.breaker is not None:
                BREAKER_STATE.labels(endpoint=health.endpoint).set(_STATE_VALUE.get(str(health.breaker.state), 0))
    depths = QueueDepths(session).now(now)
    for queue, depth in depths.items():
        QUEUE_DEPTH.labels(queue=queue).set(depth)
    QUEUE_DEPTH.labels(queue="awaiting_model").set(DueMessages(session).count_waiting_for_model())
