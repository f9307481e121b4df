"""Aggregate queries the dashboard pages need, all scoped by tenant and bounded by a time window or a page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nightcrew.ai.models import ModelCall
from nightcrew.crm.models import Contact, PipelineStage, StageChange
from nightcrew.events.models import Event
from nightcrew.observe.models import Action

# Ledger outcomes that mean the endpoint itself did not answer (see nightcrew.ai.ledger.Outcome).
FAILED_OUTCOMES = frozenset({"retried", "failed"})
# Every event status but "done": stored, being processed, finished with a failure or with its message deferred.
UNFINISHED_EVENT_STATUSES = ("received", "processing", "failed", "deferred")


@dataclass(frozen=True)
class CostCell:
    """Ledger rows of one day for one (tier, endpoint, provider): spend, counterfactual, attempts, calls started."""

    cost_usd: float
    counterfactual_usd: float
    attempts: int
    calls: int


CostKey = tuple[str, str, str]  # (tier, endpoint, provider)


@dataclass(frozen=True)
class TierCost:
    """Model spend of one tier in a window."""

    tier: str
    calls: int
    attempts: int
    cost_usd: float
    counterfactual_usd: float


def tier_totals(days: Sequence[Mapping[CostKey, CostCell]]) -> list[TierCost]:
    """Per-day ledger cells summed by tier, the most expensive tier first."""
    totals: dict[str, list[float]] = {}
    for cells in days:
        for (tier, _endpoint, _provider), cell in cells.items():
            line = totals.setdefault(tier, [0, 0, 0.0, 0.0])
            line[0] += cell.calls
            line[1] += cell.attempts
            line[2] += cell.cost_usd
            line[3] += cell.counterfactual_usd
    lines = [TierCost(tier, int(c), int(a), usd, cf) for tier, (c, a, usd, cf) in totals.items()]
    return sorted(lines, key=lambda line: (-line.cost_usd, line.tier))


@dataclass(frozen=True)
class EndpointHealth:
    """An endpoint's latest attempts for this tenant, newest first, and what they say about it."""

    endpoint: str
    provider: str
    outcomes: list[str]
    last_at: datetime
    last_error: str | None

    @property
    def failing_in_a_row(self) -> int:
        """How many of the latest attempts failed, counting back from the newest."""
        count = 0
        for outcome in self.outcomes:
            if outcome not in FAILED_OUTCOMES:
                break
            count += 1
        return count

    @property
    def state(self) -> str:
        """'failing' when the newest attempt failed, else 'ok'."""
        return "failing" if self.failing_in_a_row else "ok"


@dataclass(frozen=True)
class BlockedDecision:
    """A guardrail block: when, whom, why."""

    at: datetime
    contact_external_id: str | None
    reason: str


@dataclass(frozen=True)
class ContactRef:
    """Enough of a contact to link to it."""

    id: int
    external_id: str
    name: str | None


class DashboardRepository:
    """The dashboard's aggregates for one tenant (the ledger names tenants by slug, everything else by id)."""

    def __init__(self, session: Session, tenant_id: int, tenant_slug: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.tenant_slug = tenant_slug

    def _bucketed(
        self,
        column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
        where: Sequence[ColumnElement[bool]],
        start: datetime,
        days: int,
        *columns: ColumnElement[Any] | InstrumentedAttribute[Any],
    ) -> Subquery:
        """Rows of the window with their day number (0 = the day of ``start``), bucketed without dialect functions."""
        edges = [start + timedelta(days=i + 1) for i in range(days)]
        # A CASE over the day boundaries is portable, and the range predicate still uses the index. Callers
        # group in an outer query, which keeps PostgreSQL from comparing two separately bound copies of it.
        bucket = case(*[(column < edge, i) for i, edge in enumerate(edges)]).label("day")
        return select(bucket, *columns).where(*where, column >= start, column < edges[-1]).subquery()

    def _per_day(
        self,
        column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
        where: Sequence[ColumnElement[bool]],
        start: datetime,
        days: int,
    ) -> list[float]:
        """How many rows fall on each day from ``start``."""
        series = [0.0] * days
        if days <= 0:
            return series
        rows = self._bucketed(column, where, start, days)
        for day, value in self.session.execute(select(rows.c.day, func.count()).group_by(rows.c.day)).all():
            if day is not None:
                series[int(day)] = float(value)
        return series

    def events_per_day(self, start: datetime, days: int) -> list[float]:
        """Events received per day."""
        return self._per_day(Event.received_at, [Event.tenant_id == self.tenant_id], start, days)

    def replies_per_day(self, start: datetime, days: int) -> list[float]:
        """Inbound messages (message.received events) received per day."""
        where = [Event.tenant_id == self.tenant_id, Event.type == "message.received"]
        return self._per_day(Event.received_at, where, start, days)

    def sent_per_day(self, start: datetime, days: int) -> list[float]:
        """Messages handed to a channel per day, counted by their one message.sent audit entry each."""
        # The audit log's (kind, created_at) index finds a day's sends; messages.sent_at has no index.
        where = [Action.tenant_id == self.tenant_id, Action.kind == "message.sent"]
        return self._per_day(Action.created_at, where, start, days)

    def booked_stages(self) -> list[str]:
        """The tenant's pipeline stages of kind 'booked'."""
        return list(
            self.session.scalars(
                select(PipelineStage.name).where(
                    PipelineStage.tenant_id == self.tenant_id, PipelineStage.kind == "booked"
                )
            )
        )

    def bookings_per_day(self, start: datetime, days: int) -> list[float]:
        """Moves into a 'booked' stage per day."""
        stages = self.booked_stages()
        if not stages:
            return [0.0] * days
        where = [StageChange.tenant_id == self.tenant_id, StageChange.to_stage.in_(stages)]
        return self._per_day(StageChange.changed_at, where, start, days)

    def cost_per_day(self, start: datetime, days: int) -> list[dict[CostKey, CostCell]]:
        """Ledger rows per day from ``start``, summed per (tier, endpoint, provider)."""
        series: list[dict[CostKey, CostCell]] = [{} for _ in range(days)]
        if days <= 0:
            return series
        rows = self._bucketed(
            ModelCall.at,
            [ModelCall.tenant == self.tenant_slug],
            start,
            days,
            ModelCall.tier,
            ModelCall.endpoint,
            ModelCall.provider,
            ModelCall.cost_usd,
            ModelCall.counterfactual_usd,
            ModelCall.attempt,
        )
        key = (rows.c.day, rows.c.tier, rows.c.endpoint, rows.c.provider)
        totals = self.session.execute(
            select(
                *key,
                func.coalesce(func.sum(rows.c.cost_usd), 0.0),
                func.coalesce(func.sum(rows.c.counterfactual_usd), 0.0),
                func.count(),
                func.sum(case((rows.c.attempt == 1, 1), else_=0)),
            ).group_by(*key)
        ).all()
        for day, tier, endpoint, provider, usd, counterfactual, attempts, calls in totals:
            if day is not None:
                cell = CostCell(float(usd), float(counterfactual), int(attempts), int(calls or 0))
                series[int(day)][(str(tier), str(endpoint), str(provider))] = cell
        return series

    def blocks_per_day(self, start: datetime, days: int) -> list[float]:
        """Guardrail verdicts that blocked a message, per day."""
        where = [
            Action.tenant_id == self.tenant_id,
            Action.kind == "guardrail.verdict",
            Action.output["verdict"].as_string() == "block",
        ]
        return self._per_day(Action.created_at, where, start, days)

    def unfinished_events(self, since: datetime) -> dict[str, int]:
        """Events received since ``since`` that are not done (failed, deferred, still waiting), by status."""
        rows = self.session.execute(
            select(Event.status, func.count())
            .where(
                # "+ 0" keeps SQLite (without ANALYZE statistics) from walking every event of the tenant in the
                # window through ix_events_tenant_received: the (status, received_at) index reads only these few.
                Event.tenant_id + 0 == self.tenant_id,
                Event.status.in_(UNFINISHED_EVENT_STATUSES),
                Event.received_at >= since,
            )
            .group_by(Event.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def endpoint_health(self, endpoints: Sequence[str], last: int = 5) -> list[EndpointHealth]:
        """The latest ``last`` attempts this tenant made on each of ``endpoints``."""
        health: list[EndpointHealth] = []
        for endpoint in sorted(set(endpoints)):
            recent = self.session.execute(
                select(ModelCall.provider, ModelCall.outcome, ModelCall.at, ModelCall.error)
                .where(
                    ModelCall.endpoint == endpoint,
                    ModelCall.tenant == self.tenant_slug,
                    ModelCall.outcome != "queued",
                )
                .order_by(ModelCall.at.desc(), ModelCall.id.desc())
                .limit(last)
            ).all()
            if not recent:
                continue
            errors = [r.error for r in recent if r.outcome in FAILED_OUTCOMES and r.error]
            health.append(
                EndpointHealth(
                    endpoint=str(endpoint),
                    provider=str(recent[0].provider),
                    outcomes=[str(r.outcome) for r in recent],
                    last_at=recent[0].at,
                    last_error=errors[0] if errors else None,
                )
            )
        return health

    def recent_blocks(self, since: datetime, limit: int = 10) -> list[BlockedDecision]:
        """The latest guardrail verdicts that blocked a message, with their reasons."""
        verdict = Action.output["verdict"].as_string()
        rows = self.session.execute(
            select(Action.created_at, Contact.external_id, Action.reason)
            .outerjoin(Contact, Contact.id == Action.contact_id)
            .where(
                Action.tenant_id == self.tenant_id,
                Action.kind == "guardrail.verdict",
                Action.created_at >= since,
                verdict == "block",
            )
            .order_by(Action.created_at.desc(), Action.id.desc())
            .limit(limit)
        ).all()
        return [BlockedDecision(at, external_id, reason or "") for at, external_id, reason in rows]

    def contacts_by_ids(self, ids: Sequence[int]) -> dict[int, ContactRef]:
        """Contacts by id (for linking list rows), within the tenant."""
        if not ids:
            return {}
        rows = self.session.execute(
            select(Contact.id, Contact.external_id, Contact.name).where(
                Contact.tenant_id == self.tenant_id, Contact.id.in_(sorted(set(ids)))
            )
        ).all()
        return {int(i): ContactRef(int(i), str(e), n) for i, e, n in rows}
