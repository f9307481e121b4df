"""The dashboard's aggregate queries on both databases: day buckets, cost, endpoint health, blocks, tenant scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import Env

from nightcrew.ai.models import ModelCall
from nightcrew.channels.models import Message
from nightcrew.crm.models import Contact, StageChange
from nightcrew.dashboard.repository import CostCell, DashboardRepository, EndpointHealth, tier_totals
from nightcrew.dashboard.views import window_start
from nightcrew.db import transaction
from nightcrew.events.models import Event
from nightcrew.observe.models import Action

START = datetime(2026, 2, 1, tzinfo=UTC)


def _contact(tenant_id: int, external_id: str, now: datetime) -> Contact:
    return Contact(tenant_id=tenant_id, external_id=external_id, stage="new", fields={}, created_at=now, updated_at=now)


def _event(tenant_id: int, at: datetime, type_: str = "lead.created", status: str = "done") -> Event:
    key = uuid.uuid4().hex
    return Event(
        tenant_id=tenant_id,
        key=key,
        type=type_,
        occurred_at=at,
        received_at=at,
        updated_at=at,
        status=status,
        payload={},
        workflow_id=f"wf-{key}",
    )


def _call(tenant: str, at: datetime, *, endpoint: str, outcome: str, cost: float, tier: str = "capable") -> ModelCall:
    return ModelCall(
        record_id=uuid.uuid4().hex,
        call_id=uuid.uuid4().hex,
        attempt=1,
        at=at,
        task="compose",
        tier=tier,
        endpoint=endpoint,
        provider="openai",
        model="m",
        tenant=tenant,
        outcome=outcome,
        cost_usd=cost,
        counterfactual_usd=cost * 2,
        error="HTTP 503" if outcome in ("failed", "retried") else None,
    )


def test_aggregates_bucket_by_day_and_stay_in_the_tenant(env: Env) -> None:
    other = env.container.ensure_tenant(f"{env.tenant.slug}x", "Other")
    tid, slug = env.tenant.id, env.tenant.slug
    day = timedelta(days=1)
    with transaction(env.container.sessions) as session:
        contact = _contact(tid, "c-1", START)
        foreign = _contact(other.id, "c-1", START)
        session.add_all([contact, foreign])
        session.flush()
        session.add_all(
            [
                _event(tid, START - timedelta(seconds=1), status="failed"),  # before the window
                _event(tid, START),  # first instant of day 0
                _event(tid, START + day - timedelta(microseconds=1)),  # last instant of day 0
                _event(tid, START + day, "message.received", status="failed"),  # day 1
                _event(tid, START + 3 * day - timedelta(microseconds=1), status="deferred"),  # last instant
                _event(tid, START + 3 * day),  # after the window
                _event(other.id, START + day),  # another tenant's
            ]
        )
        for at, status in ((START + day, "sent"), (START + 2 * day, "blocked")):
            session.add(
                Message(
                    tenant_id=tid,
                    contact_id=contact.id,
                    workflow_id="wf",
                    idempotency_key=uuid.uuid4().hex,
                    purpose="first_touch",
                    channel="email",
                    to_address="a@example.com",
                    language="es",
                    body="hola",
                    status=status,
                    sent_at=at if status == "sent" else None,
                    created_at=at,
                    updated_at=at,
                )
            )
        session.add_all(
            [
                StageChange(tenant_id=tid, contact_id=contact.id, to_stage="trial_booked", changed_at=START + 2 * day),
                StageChange(tenant_id=tid, contact_id=contact.id, to_stage="engaged", changed_at=START + 2 * day),
                StageChange(
                    tenant_id=other.id, contact_id=foreign.id, to_stage="trial_booked", changed_at=START + 2 * day
                ),
            ]
        )
        for minutes, outcome in ((1, "ok"), (2, "retried"), (3, "failed")):
            session.add(_call(slug, START + timedelta(minutes=minutes), endpoint="primary", outcome=outcome, cost=0.5))
        session.add(_call(slug, START + day, endpoint="backup", outcome="ok", cost=0.25, tier="cheap"))
        session.add(_call(other.slug, START + day, endpoint="primary", outcome="ok", cost=9.0))
        for n, (kind, at) in enumerate((("message.sent", START + day), ("message.failed", START + 2 * day))):
            session.add(
                Action(
                    tenant_id=tid,
                    contact_id=contact.id,
                    step="message.send",
                    kind=kind,
                    dedupe_key=f"send-{n}",
                    reason="",
                    created_at=at,
                )
            )
        session.add(
            Action(
                tenant_id=other.id,
                contact_id=foreign.id,
                step="message.send",
                kind="message.sent",
                dedupe_key="theirs",
                reason="",
                created_at=START + day,
            )
        )
        for n, verdict in enumerate(("block", "pass", "block")):
            session.add(
                Action(
                    tenant_id=tid,
                    contact_id=contact.id,
                    step="lead.check",
                    kind="guardrail.verdict",
                    dedupe_key=uuid.uuid4().hex,
                    input={},
                    output={"verdict": verdict},
                    reason=f"reason {n}",
                    created_at=START + timedelta(hours=n),
                )
            )
        session.add(
            Action(
                tenant_id=other.id,
                contact_id=foreign.id,
                step="lead.check",
                kind="guardrail.verdict",
                dedupe_key=uuid.uuid4().hex,
                output={"verdict": "block"},
                reason="theirs",
                created_at=START,
            )
        )

    with transaction(env.container.sessions) as session:
        repo = DashboardRepository(session, tid, slug)
        assert repo.events_per_day(START, 3) == [2, 1, 1]
        assert repo.replies_per_day(START, 3) == [0, 1, 0]
        assert repo.sent_per_day(START, 3) == [0, 1, 0]
        assert repo.bookings_per_day(START, 3) == [0, 0, 1]
        costs = repo.cost_per_day(START, 3)
        assert costs[0] == {("capable", "primary", "openai"): CostCell(1.5, 3.0, 3, 3)}
        assert costs[1] == {("cheap", "backup", "openai"): CostCell(0.25, 0.5, 1, 1)}
        assert costs[2] == {}
        assert [(t.tier, t.calls, t.attempts, t.cost_usd, t.counterfactual_usd) for t in tier_totals(costs)] == [
            ("capable", 3, 3, 1.5, 3.0),
            ("cheap", 1, 1, 0.25, 0.5),
        ]
        assert repo.unfinished_events(START) == {"failed": 1, "deferred": 1}
        health = {h.endpoint: h for h in repo.endpoint_health(["primary", "backup", "primary", "unused"])}
        assert set(health) == {"primary", "backup"}
        assert health["primary"].outcomes == ["failed", "retried", "ok"]
        assert health["primary"].state == "failing" and health["primary"].failing_in_a_row == 2
        assert health["primary"].last_error == "HTTP 503"
        assert health["backup"].state == "ok" and health["backup"].last_error is None
        assert repo.blocks_per_day(START, 3) == [2, 0, 0]
        blocks = repo.recent_blocks(START)
        assert [(b.reason, b.contact_external_id) for b in blocks] == [("reason 2", "c-1"), ("reason 0", "c-1")]
        assert set(repo.contacts_by_ids([contact.id, foreign.id])) == {contact.id}


def test_empty_tenant_gives_zero_series(env: Env) -> None:
    with transaction(env.container.sessions) as session:
        repo = DashboardRepository(session, env.tenant.id, env.tenant.slug)
        assert repo.events_per_day(START, 30) == [0.0] * 30
        assert repo.cost_per_day(START, 30) == [{}] * 30 and repo.blocks_per_day(START, 30) == [0.0] * 30
        assert repo.endpoint_health([]) == [] and repo.unfinished_events(START) == {}
        assert repo.events_per_day(START, 0) == [] and repo.cost_per_day(START, 0) == []
        assert repo.recent_blocks(START) == [] and repo.contacts_by_ids([]) == {}


def test_endpoint_state_reads_the_newest_attempts_first() -> None:
    at = START
    assert EndpointHealth("e", "p", ["ok", "failed"], at, None).state == "ok"
    assert EndpointHealth("e", "p", ["fell_back", "retried"], at, None).failing_in_a_row == 0
    assert EndpointHealth("e", "p", ["retried", "failed", "ok"], at, None).failing_in_a_row == 2


def test_window_starts_at_midnight_utc_29_days_back() -> None:
    assert window_start(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
    assert window_start(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 1) == datetime(2026, 3, 2, tzinfo=UTC)
