"""Aggregate queries the dashboard pages need, all scoped by tenant and bounded by a time window or a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nightcrew.ai.models import ModelCall
from nightcrew.channels.models import Message
from nightcrew.crm.models import Contact, PipelineStage, StageChange
from nightcrew.events.models import Event
from nightcrew.observe.models import Action

# Ledger outcomes that mean the endpoint itself did not answer (see nightcrew.ai.ledger.Outcome).
FAILED_OUTCOMES = frozenset({"retried", "failed"})


@dataclass(frozen=True)
class TierCost:
    """Model spend of one tier in a window."""

    tier: str
    calls: int
    attempts: int
    cost_usd: float
    counterfactual_usd: float


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

    def _per_day(
        self,
        column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
        where: Sequence[ColumnElement[bool]],
        start: datetime,
        days: int,
        amount: InstrumentedAttribute[float] | None = None,
    ) -> list[float]:
        """Rows (or the sum of ``amount``) per day from ``start``, bucketed in SQL without dialect functions."""
        edges = [start + timedelta(days=i + 1) for i in range(days)]
        # A CASE over the day boundaries is portable, and the range predicate still uses the index.
        bucket = case(*[(column < edge, i) for i, edge in enumerate(edges)]).label("day")
        picked = [bucket] if amount is None else [bucket, amount.label("amount")]
        rows = select(*picked).where(*where, column >= start, column < edges[-1]).subquery()
        # Grouping in an outer query keeps PostgreSQL from comparing two separately bound copies of the CASE.
        total = func.count() if amount is None else func.coalesce(func.sum(rows.c.amount), 0.0)
        series = [0.0] * days
        for day, value in self.session.execute(select(rows.c.day, total).group_by(rows.c.day)).all():
            if day is not None:
                series[int(day)] = float(value or 0)
        return series

    def events_per_day(self, start: datetime, days: int) -> list[float]:
        """Events received per day."""
        return self._per_day(Event.received_at, [Event.tenant_id == self.tenant_id], start, days)

    def replies_per_day(self, start: datetime, days: int) -> list[float]:
        """Inbound messages (message.received events) received per day."""
        where = [Event.tenant_id == self.tenant_id, Event.type == "message.received"]
        return self._per_day(Event.received_at, where, start, days)

    def sent_per_day(self, start: datetime, days: int) -> list[float]:
        """Messages handed to a channel per day."""
        return self._per_day(Message.sent_at, [Message.tenant_id == self.tenant_id], start, days)

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

    def cost_per_day(self, start: datetime, days: int) -> list[float]:
        """Model spend in USD per day."""
        where = [ModelCall.tenant == self.tenant_slug]
        return self._per_day(ModelCall.at, where, start, days, amount=ModelCall.cost_usd)

    def events_by_status(self, since: datetime) -> dict[str, int]:
        """Events received since ``since``, counted by status."""
        rows = self.session.execute(
            select(Event.status, func.count())
            .where(Event.tenant_id == self.tenant_id, Event.received_at >= since)
            .group_by(Event.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def cost_by_tier(self, since: datetime) -> list[TierCost]:
        """Model spend per tier since ``since``, the most expensive first."""
        rows = self.session.execute(
            select(
                ModelCall.tier,
                func.count(func.distinct(ModelCall.call_id)),
                func.count(),
                func.coalesce(func.sum(ModelCall.cost_usd), 0.0),
                func.coalesce(func.sum(ModelCall.counterfactual_usd), 0.0),
            )
            .where(ModelCall.tenant == self.tenant_slug, ModelCall.at >= since)
            .group_by(ModelCall.tier)
        ).all()
        lines = [TierCost(str(t), int(c), int(a), float(usd), float(cf)) for t, c, a, usd, cf in rows]
        return sorted(lines, key=lambda line: (-line.cost_usd, line.tier))

    def endpoint_health(self, since: datetime, last: int = 5) -> list[EndpointHealth]:
        """Each remote endpoint this tenant called since ``since``, with its latest ``last`` outcomes."""
        endpoints = self.session.scalars(
            select(ModelCall.endpoint)
            .where(ModelCall.tenant == self.tenant_slug, ModelCall.at >= since, ModelCall.provider != "local")
            .group_by(ModelCall.endpoint)
            .order_by(ModelCall.endpoint)
        ).all()
        health: list[EndpointHealth] = []
        for endpoint in endpoints:
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

    def blocked_messages(self, since: datetime) -> int:
        """Messages created since ``since`` that the guardrails blocked."""
        return int(
            self.session.scalar(
                select(func.count()).where(
                    Message.tenant_id == self.tenant_id, Message.created_at >= since, Message.status == "blocked"
                )
            )
            or 0
        )

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
