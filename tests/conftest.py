"""Shared fixtures: every integration test runs on SQLite and on the local PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.channels.router import TransportRouter
from nightcrew.channels.transports import FileTransport
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.migrations import upgrade
from nightcrew.workflows import runtime

PG_ADMIN = os.environ.get("NIGHTCREW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_reason: str | None = None


def _pg_available() -> str | None:
    """None when the server answers, else why not."""
    global _pg_reason
    if _pg_reason is None:
        try:
            with psycopg.connect(PG_ADMIN, connect_timeout=3):
                _pg_reason = ""
        except psycopg.Error as exc:
            _pg_reason = f"PostgreSQL not reachable at {PG_ADMIN}: {exc}".strip()
    return _pg_reason or None


def pytest_report_header(config: pytest.Config) -> str:
    reason = _pg_available()
    return f"postgresql: {'available' if reason is None else 'SKIPPED: ' + reason}"


def create_pg_database(prefix: str = "nightcrew_test") -> str:
    """Create a fresh database on the local server; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database (terminating stray connections)."""
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per backend, shared by the session (tests isolate themselves by tenant)."""
    if request.param == "postgres":
        reason = _pg_available()
        if reason is not None:
            pytest.skip(reason)
        url = create_pg_database()
        upgrade(url)
        yield url
        runtime.shutdown()
        drop_pg_database(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'nightcrew.db'}"
        upgrade(url)
        yield url
        runtime.shutdown()


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[str]:
    """A database of its own (for tests that run other processes against it), same backend as database_url."""
    if database_url.startswith("postgresql"):
        url = create_pg_database("nightcrew_proc")
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'proc.db'}"


@dataclass
class Env:
    """A container wired for one test: its own tenant, a FakeClock, a transport the test can read."""

    container: Container
    clock: FakeClock
    tenant: TenantRef
    outbox: Path


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for tests: fast queue polling, a file outbox in tmp_path."""
    values: dict[str, object] = {
        "database_url": database_url,
        "outbound_file": tmp_path / "outbox.jsonl",
        "executor_id": f"pytest-{os.getpid()}",
        "queue_polling_interval": 0.05,
        "api_key": "test-admin-key",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    """DBOS running on the backend's database, with a per-test tenant and FakeClock."""
    settings = make_settings(database_url, tmp_path)
    clock = FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # Monday 10:00 in Bogotá
    outbox = tmp_path / "outbox.jsonl"
    container = Container(settings, clock=clock, transports=TransportRouter(FileTransport(outbox)))
    tenant = container.ensure_tenant(f"t{uuid.uuid4().hex[:10]}", "Test Academy")
    runtime.launch(container, schedule_sweeps=False)
    runtime.set_container(container)
    yield Env(container, clock, tenant, outbox)
    _drain(tenant.slug)
    container.close()


def _drain(prefix: str, timeout_s: float = 20.0) -> None:
    """Let this test's workflows finish before the next test swaps the container under them."""
    import time

    from dbos import DBOS

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = [
            w
            for w in DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False)
            if w.workflow_id.startswith(f"{prefix}:")
        ]
        if not busy:
            return
        time.sleep(0.05)
