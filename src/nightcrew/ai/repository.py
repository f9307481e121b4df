"""All queries about the cost ledger; also the router's CostSink and SpendReader, backed by the database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nightcrew.ai.breaker import BreakerSnapshot
from nightcrew.ai.ledger import CallRecord
from nightcrew.ai.models import ModelCall, ProviderBreaker
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

    def recent_for_endpoint(self, endpoint: str, limit: int, tenant: str | None = None) -> Sequence[ModelCall]:
        """An endpoint's latest attempts (for one tenant, when given), newest first."""
        query = select(ModelCall).where(ModelCall.endpoint == endpoint, ModelCall.outcome != "queued")
        if tenant is not None:
            query = query.where(ModelCall.tenant == tenant)
        return self.session.scalars(query.order_by(ModelCall.at.desc(), ModelCall.id.desc()).limit(limit)).all()


class BreakerRepository:
    """Each process's last reported breaker state per endpoint (rows change only on transitions)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, endpoint: str, base_url: str, executor_id: str, snapshot: BreakerSnapshot, at: datetime) -> None:
        """Store this process's breaker state for the endpoint (one row per endpoint and process)."""
        values = {
            "state": str(snapshot.state),
            "failures": snapshot.consecutive_failures,
            "times_opened": snapshot.times_opened,
            "opened_at": snapshot.opened_at,
            "retry_at": snapshot.retry_at,
            "updated_at": at,
        }
        for _ in range(2):
            row = self.session.scalar(
                select(ProviderBreaker).where(
                    ProviderBreaker.endpoint == endpoint,
                    ProviderBreaker.base_url == base_url,
                    ProviderBreaker.executor_id == executor_id,
                )
            )
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)
                self.session.flush()
                return
            try:
                with self.session.begin_nested():
                    self.session.add(
                        ProviderBreaker(endpoint=endpoint, base_url=base_url, executor_id=executor_id, **values)
                    )
                    self.session.flush()
                return
            except IntegrityError as exc:  # another thread of this process inserted it first: update that row
                if not is_unique_violation(exc):
                    raise

    def for_endpoints(self, endpoints: Iterable[tuple[str, str]]) -> Sequence[ProviderBreaker]:
        """The rows of these (endpoint, base_url) pairs, every process, latest change first."""
        pairs = list(endpoints)
        if not pairs:
            return []
        return self.session.scalars(
            select(ProviderBreaker)
            .where(tuple_(ProviderBreaker.endpoint, ProviderBreaker.base_url).in_(pairs))
            .order_by(ProviderBreaker.updated_at.desc(), ProviderBreaker.id.desc())
        ).all()


class DatabaseBreakers:
    """The router's BreakerSink: each transition is committed at once, in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session], executor_id: str) -> None:
        self.sessions = sessions
        self.executor_id = executor_id

    def transition(self, endpoint: str, base_url: str, snapshot: BreakerSnapshot, at: datetime) -> None:
        """Store the endpoint's breaker state after a change."""
        with transaction(self.sessions) as session:
            BreakerRepository(session).save(endpoint, base_url, self.executor_id, snapshot, at)


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
