"""The cost ledger's record of one model attempt, the sink the router writes to, and cost reports."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from nightcrew.ai.pricing import saving_pct
from nightcrew.clock import ensure_utc

# ok: answered by the first choice; retried: failed and was tried again; fell_back: answered by
# anything other than the first choice (another endpoint or tier, templates, budget cap);
# failed: gave up on this endpoint; queued: nothing allowed was up, the work waits durably.
Outcome = Literal["ok", "retried", "fell_back", "failed", "queued"]


class CallRecord(BaseModel):
    """One attempt (or local decision) for one task: what ran, what it cost, how it ended."""

    model_config = ConfigDict(frozen=True)

    # A step re-run after a crash repeats (call_id, attempt); record_id stays unique for the table's key.
    record_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    call_id: str
    attempt: int = Field(ge=1)
    at: datetime
    task: str
    tier: str
    endpoint: str
    provider: str
    model: str | None
    tenant: str | None
    contact: str | None
    outcome: Outcome
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    # What the same tokens would cost on the capable tier; estimated from text length for local calls.
    counterfactual_usd: float = Field(default=0.0, ge=0.0)
    counterfactual_estimated: bool = False
    latency_ms: float = Field(default=0.0, ge=0.0)
    simulated: bool = False
    error: str | None = None


class CostSink(Protocol):
    """Where the router writes every attempt (the lead's database repository, or memory in tests)."""

    def record(self, call: CallRecord) -> None:
        """Store one record."""
        ...


class SpendReader(Protocol):
    """How the router learns a tenant's spend so far, for budgets."""

    def spent_usd(self, tenant: str, since: datetime) -> float:
        """USD recorded for ``tenant`` at or after ``since``."""
        ...


class InMemoryLedger:
    """A thread-safe CostSink and SpendReader in memory (tests, the demo, single-process runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def record(self, call: CallRecord) -> None:
        """Store one record."""
        with self._lock:
            self._records.append(call)

    def spent_usd(self, tenant: str, since: datetime) -> float:
        """USD recorded for ``tenant`` at or after ``since``."""
        since = ensure_utc(since)
        with self._lock:
            return sum(r.cost_usd for r in self._records if r.tenant == tenant and ensure_utc(r.at) >= since)

    @property
    def records(self) -> list[CallRecord]:
        """Every record so far, oldest first."""
        with self._lock:
            return list(self._records)


@dataclass(frozen=True)
class CostLine:
    """Totals for one group of records."""

    key: str
    calls: int
    attempts: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    counterfactual_usd: float
    by_outcome: dict[str, int]

    @property
    def saving_pct(self) -> float:
        """Saving against the counterfactual, in percent."""
        return saving_pct(self.cost_usd, self.counterfactual_usd)


@dataclass(frozen=True)
class CostReport:
    """Cost by task, tier and day, with the all-capable counterfactual."""

    total: CostLine
    by_task: list[CostLine]
    by_tier: list[CostLine]
    by_day: list[CostLine]


def _line(key: str, records: list[CallRecord]) -> CostLine:
    outcomes: dict[str, int] = defaultdict(int)
    for r in records:
        outcomes[r.outcome] += 1
    return CostLine(
        key=key,
        calls=len({r.call_id for r in records}),
        attempts=len(records),
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        cost_usd=sum(r.cost_usd for r in records),
        counterfactual_usd=sum(r.counterfactual_usd for r in records),
        by_outcome=dict(sorted(outcomes.items())),
    )


def _group(records: list[CallRecord], key: Callable[[CallRecord], str]) -> list[CostLine]:
    groups: dict[str, list[CallRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return [_line(k, v) for k, v in sorted(groups.items())]


def cost_report(records: Iterable[CallRecord], *, since: datetime | None = None) -> CostReport:
    """Aggregate ledger records (at or after ``since``) into the ``nightcrew costs`` report."""
    rows = [r for r in records if since is None or ensure_utc(r.at) >= ensure_utc(since)]
    day: Callable[[CallRecord], str] = lambda r: _day(r.at).isoformat()  # noqa: E731
    return CostReport(
        total=_line("total", rows),
        by_task=_group(rows, lambda r: r.task),
        by_tier=_group(rows, lambda r: r.tier),
        by_day=_group(rows, day),
    )


def _day(at: datetime) -> date:
    return ensure_utc(at).date()
