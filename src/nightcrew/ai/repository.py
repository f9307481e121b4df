"""All queries about the cost ledger; also the router's CostSink and SpendReader, backed by the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nightcrew.ai.ledger import CallRecord
from nightcrew.ai.models import ModelCall
from nightcrew.db import is_unique_violation, transaction
from nightcrew.observe.metrics import COST, PROVIDER_CALLS, PROVIDER_LATENCY


def to_record(row: ModelCall) -> CallRecord:
    """A stored row as the router's record type."""
    return CallRecord(
        record_id=row.record_id,
        call_id=row.call_id,
        attempt=row.attempt,
        at=row.at,
        task=row.task,
        tier=row.tier,
        endpoint=row.endpoint,
        provider=row.provider,
        model=row.model,
        tenant=row.tenant,
        contact=row.contact,
        outcome=row.outcome,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        counterfactual_usd=row.counterfactual_usd,
        counterfactual_estimated=row.counterfactual_estimated,
        latency_ms=row.latency_ms,
        simulated=row.simulated,
        error=row.error,
    )


class LedgerRepository:
    """Ledger rows; ``tenant`` None reads every tenant (operators' reports on a single-tenant install)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: CallRecord) -> None:
        """Store a record once (a re-run step repeats its record_id)."""
        try:
            with self.session.begin_nested():
                self.session.add(ModelCall(**record.model_dump()))
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise

    def since(self, tenant: str | None, since: datetime | None) -> Sequence[ModelCall]:
        """Rows at or after ``since``, oldest first."""
        query = select(ModelCall)
        if tenant is not None:
            query = query.where(ModelCall.tenant == tenant)
        if since is not None:
            query = query.where(ModelCall.at >= since)
        return self.session.scalars(query.order_by(ModelCall.at, ModelCall.id)).all()

    def spent(self, tenant: str, since: datetime) -> float:
        """USD a tenant spent at or after ``since``."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(ModelCall.cost_usd), 0.0)).where(
                ModelCall.tenant == tenant, ModelCall.at >= since
            )
        )
        return float(total or 0.0)

    def recent_for_endpoint(self, endpoint: str, limit: int) -> Sequence[ModelCall]:
        """An endpoint's latest attempts, newest first."""
        return self.session.scalars(
            select(ModelCall)
            .where(ModelCall.endpoint == endpoint, ModelCall.outcome != "queued")
            .order_by(ModelCall.at.desc(), ModelCall.id.desc())
            .limit(limit)
        ).all()


class DatabaseLedger:
    """The router's CostSink and SpendReader: each record is committed at once, in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(self, call: CallRecord) -> None:
        """Store one attempt and count it in the metrics."""
        with transaction(self.sessions) as session:
            LedgerRepository(session).add(call)
        PROVIDER_CALLS.labels(
            provider=call.provider, model=call.model or "", task=call.task, outcome=call.outcome
        ).inc()
        if call.provider != "local" and call.outcome != "queued":
            PROVIDER_LATENCY.labels(provider=call.provider, model=call.model or "").observe(call.latency_ms / 1000)
        if call.cost_usd:
            COST.labels(tier=call.tier, task=call.task).inc(call.cost_usd)

    def spent_usd(self, tenant: str, since: datetime) -> float:
        """USD recorded for ``tenant`` at or after ``since``."""
        with transaction(self.sessions) as session:
            return LedgerRepository(session).spent(tenant, since)
