"""The models and outcome pages render whatever their providers return, with Wilson intervals on the rates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.dashboard.conftest import login

from nightcrew.api.auth import MemoryRateLimiter
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.dashboard.views import (
    ModelRow,
    OutcomeRow,
    attributed_outcomes,
    create_dashboard_router,
    outcome_tables,
    registered_models,
)

ROWS = [
    OutcomeRow("variant", "A", sent=200, replied=40, booked=10, opted_out=2),
    OutcomeRow("variant", "B", sent=180, replied=18, booked=9, opted_out=0),
    OutcomeRow("template", "first_touch_warm", sent=380, replied=58, booked=19, opted_out=2),
    OutcomeRow("language", "es", sent=0, replied=0, booked=0, opted_out=0),
]


def test_outcome_tables_follow_the_issue_order_and_carry_intervals() -> None:
    tables = outcome_tables(ROWS)
    assert [d for d, _ in tables] == ["template", "variant", "language"]
    variant = dict(tables)["variant"]
    assert [line.value for line in variant] == ["A", "B"]
    assert variant[0].replied.rate == pytest.approx(0.2)
    assert variant[0].replied.low == pytest.approx(0.1505, abs=1e-4)
    assert variant[0].replied.high == pytest.approx(0.2609, abs=1e-4)
    assert dict(tables)["language"][0].booked.rate is None


def test_default_providers_report_nothing_yet(env: Env) -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert registered_models(env.container, env.tenant) == []
    assert attributed_outcomes(env.container, env.tenant, now) == []


@pytest.fixture
def wired(env: Env) -> Iterator[tuple[TestClient, list[tuple[str, datetime]]]]:
    seen: list[tuple[str, datetime]] = []

    def models(c: Container, tenant: TenantRef) -> list[ModelRow]:
        return [
            ModelRow("lead", "lead-2026-02-01", datetime(2026, 2, 1, tzinfo=UTC), False, {"macro_f1": 0.61}),
            ModelRow("lead", "lead-2026-03-01", datetime(2026, 3, 1, tzinfo=UTC), True, {"macro_f1": 0.67}),
            ModelRow("intent", "intent-7", datetime(2026, 2, 20, tzinfo=UTC), True, {"accuracy": 0.912}),
        ]

    def outcomes(c: Container, tenant: TenantRef, since: datetime) -> list[OutcomeRow]:
        seen.append((tenant.slug, since))
        return ROWS

    app = FastAPI()
    app.state.container = env.container
    app.state.limiter = MemoryRateLimiter(1000)
    app.include_router(create_dashboard_router(models=models, outcomes=outcomes))
    env.container.settings.default_tenant = env.tenant.slug
    with TestClient(app) as client:
        yield client, seen


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wired_providers_render(wired: tuple[TestClient, list[tuple[str, datetime]]], env: Env) -> None:
    client, seen = wired
    login(client)
    models = client.get("/dashboard/models").text
    assert models.index("lead models") < models.index("intent models")
    assert models.index("lead-2026-03-01") < models.index("lead-2026-02-01")
    assert "0.670" in models and "0.912" in models and 'class="badge ok">active' in models
    outcomes = client.get("/dashboard/outcomes?days=7").text
    assert seen == [(env.tenant.slug, datetime(2026, 2, 24, tzinfo=UTC))]
    assert "by template" in outcomes and "by variant" in outcomes
    assert "20.0%" in outcomes and "15.0% – 26.1%" in outcomes
    assert outcomes.count('class="interval"') == 3 * len(ROWS)
