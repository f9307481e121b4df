"""Rate limits per key: one bucket shared by every API process when it lives in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.conftest import Env

from nightcrew.api.app import create_app
from nightcrew.api.auth import MemoryRateLimiter, SharedRateLimiter, make_rate_limiter
from nightcrew.clock import FakeClock
from nightcrew.crm.repository import RateBucketRepository
from nightcrew.db import transaction
from nightcrew.errors import RateLimited


def _taken(limiter: SharedRateLimiter | MemoryRateLimiter, key: str) -> bool:
    try:
        limiter.check(key)
    except RateLimited:
        return False
    return True


def test_two_processes_share_one_bucket_per_key(env: Env) -> None:
    clock = FakeClock(datetime(2026, 12, 4, 3, 0, tzinfo=UTC))
    key = f"key:{env.tenant.id}:7"
    # Two API processes: two limiters over the same database, 60 a minute with a burst of 5.
    first, second = (SharedRateLimiter(env.container.sessions, clock, 60, burst=5) for _ in range(2))
    taken = [_taken(limiter, key) for limiter in (first, second) * 3]
    assert taken == [True, True, True, True, True, False]
    with pytest.raises(RateLimited) as refused:
        second.check(key)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert _taken(first, f"key:{env.tenant.id}:8")  # another key has its own bucket
    clock.advance(timedelta(seconds=2.5))  # 2.5 tokens back: two requests
    assert [_taken(limiter, key) for limiter in (second, first, second)] == [True, True, False]
    behind = SharedRateLimiter(env.container.sessions, FakeClock(clock.now() - timedelta(hours=1)), 60, burst=5)
    assert not _taken(behind, key)  # a clock behind the last writer refills nothing and drains nothing
    with transaction(env.container.sessions) as session:
        repo = RateBucketRepository(session)
        assert repo.forget_full(now=clock.now().timestamp(), rate=1.0, capacity=5.0) == 0
        forgotten = repo.forget_full(now=(clock.now() + timedelta(seconds=6)).timestamp(), rate=1.0, capacity=5.0)
    assert forgotten >= 2
    assert [_taken(first, key) for _ in range(6)] == [True] * 5 + [False]  # a forgotten bucket starts full


def test_behind_a_balancer_a_key_gets_its_limit_once_not_once_per_process(env: Env) -> None:
    settings = env.container.settings
    settings.rate_limit_per_minute = 3
    settings.rate_limit_store = "database"
    settings.default_tenant = env.tenant.slug
    auth = {"Authorization": "Bearer test-admin-key"}
    with (
        TestClient(create_app(settings, container=env.container)) as one,
        TestClient(create_app(settings, container=env.container)) as two,
    ):
        codes = [client.get("/v1/events/none", headers=auth).status_code for client in (one, two, one, two)]
        assert codes == [404, 404, 404, 429]
        assert int(two.get("/v1/events/none", headers=auth).headers["Retry-After"]) >= 1


def test_auto_shares_the_buckets_on_postgresql_only(env: Env) -> None:
    limiter = make_rate_limiter(env.container)
    postgres = env.container.settings.database_url.startswith("postgresql")
    assert isinstance(limiter, SharedRateLimiter if postgres else MemoryRateLimiter)


def test_the_sweep_prunes_full_buckets_hourly(env: Env) -> None:
    from nightcrew.workflows import sweeps

    old = SharedRateLimiter(env.container.sessions, FakeClock(datetime(2026, 1, 1, tzinfo=UTC)), 60)
    old.check(f"key:{env.tenant.id}:old")  # refilled long ago: a full bucket by now
    recent = SharedRateLimiter(env.container.sessions, env.container.wall_clock, 60)
    recent.check(f"key:{env.tenant.id}:recent")
    sweeps._upkeep_done_at.pop("rate_buckets", None)
    assert sweeps.prune_rate_buckets() >= 1
    assert sweeps.prune_rate_buckets() == 0  # not again within the hour
    with transaction(env.container.sessions) as session:
        keys = set(session.scalars(text("SELECT key FROM rate_buckets")))
    assert f"key:{env.tenant.id}:recent" in keys and f"key:{env.tenant.id}:old" not in keys
