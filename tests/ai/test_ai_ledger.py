"""Prices, the counterfactual and the cost report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nightcrew.ai.config import RoutingPolicy
from nightcrew.ai.ledger import CallRecord, InMemoryLedger, cost_report
from nightcrew.ai.pricing import Price, capable_price, counterfactual_cost, estimate_tokens, saving_pct

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def routing(capable: list[dict[str, object]]) -> RoutingPolicy:
    return RoutingPolicy.model_validate(
        {"tiers": {"fast": [{"provider": "local"}], "capable": capable}, "default_tier": "fast"}
    )


def record(**values: object) -> CallRecord:
    base: dict[str, object] = {
        "call_id": "c1",
        "attempt": 1,
        "at": DAY,
        "task": "compose_outreach",
        "tier": "capable",
        "endpoint": "e",
        "provider": "openai",
        "model": "m",
        "tenant": "t1",
        "contact": "k1",
        "outcome": "ok",
    }
    base.update(values)
    return CallRecord.model_validate(base)


def test_prices_per_million_tokens() -> None:
    assert Price(0.15, 0.60).cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert Price(2.0, 8.0).cost(1200, 300) == pytest.approx(0.0024 + 0.0024)
    assert estimate_tokens("") == 0 and estimate_tokens("abcde") == 2


def test_counterfactual_uses_the_first_paid_endpoint_of_the_capable_tier() -> None:
    policy = routing(
        [
            {"provider": "local"},
            {"provider": "openai", "model": "big", "input_per_mtok": 2.5, "output_per_mtok": 10.0},
            {"provider": "openai", "model": "bigger", "input_per_mtok": 9.0, "output_per_mtok": 9.0},
        ]
    )
    assert capable_price(policy) == Price(2.5, 10.0)
    assert counterfactual_cost(policy, 1000, 100) == pytest.approx(0.0035)
    assert counterfactual_cost(routing([{"provider": "local"}]), 1000, 100) == 0.0


def test_saving_percent() -> None:
    assert saving_pct(25.0, 100.0) == pytest.approx(75.0)
    assert saving_pct(0.0, 0.0) == 0.0


def test_cost_report_by_task_tier_and_day() -> None:
    rows = [
        record(cost_usd=0.02, counterfactual_usd=0.02, input_tokens=100, output_tokens=50),
        record(call_id="c2", outcome="retried", error="HTTP 500"),
        record(call_id="c2", attempt=2, cost_usd=0.01, counterfactual_usd=0.01),
        record(call_id="c3", task="classify_intent", tier="fast", provider="local", counterfactual_usd=0.003),
        record(call_id="c4", at=DAY + timedelta(days=1), task="classify_intent", tier="fast", cost_usd=0.001,
               counterfactual_usd=0.01),
    ]  # fmt: skip
    report = cost_report(rows)
    assert report.total.calls == 4 and report.total.attempts == 5
    assert report.total.cost_usd == pytest.approx(0.031)
    assert report.total.counterfactual_usd == pytest.approx(0.043)
    assert report.total.saving_pct == pytest.approx(100 * (0.043 - 0.031) / 0.043)
    assert [(line.key, line.calls) for line in report.by_task] == [
        ("classify_intent", 2),
        ("compose_outreach", 2),
    ]
    assert [line.key for line in report.by_tier] == ["capable", "fast"]
    assert [line.key for line in report.by_day] == ["2026-03-02", "2026-03-03"]
    assert report.by_task[1].by_outcome == {"ok": 2, "retried": 1}
    assert cost_report(rows, since=DAY + timedelta(hours=1)).total.calls == 1


def test_in_memory_ledger_spend_per_tenant_since() -> None:
    ledger = InMemoryLedger()
    ledger.record(record(cost_usd=1.0))
    ledger.record(record(cost_usd=2.0, at=DAY + timedelta(hours=2)))
    ledger.record(record(cost_usd=4.0, tenant="t2"))
    assert ledger.spent_usd("t1", DAY) == pytest.approx(3.0)
    assert ledger.spent_usd("t1", DAY + timedelta(hours=1)) == pytest.approx(2.0)
    assert len(ledger.records) == 3
