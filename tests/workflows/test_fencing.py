"""The fence: a worker that may have been declared dead stops at once, before two executors run the same workflow.

In-process and deterministic: two supervisors on the test database share a FakeClock as their wall clock, so a
heartbeat lapses by advancing it; the process exit is replaced by an exception the test catches.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import pytest
from structlog.testing import capture_logs
from tests.conftest import Env, make_settings

from nightcrew.bootstrap import Container
from nightcrew.clock import FakeClock, SystemClock
from nightcrew.db import transaction
from nightcrew.events.repository import ExecutorRepository
from nightcrew.workflows.supervisor import FENCED_EXIT_CODE, Supervisor


class Exited(Exception):
    """The process would have exited with ``code`` here."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> NoReturn:
    raise Exited(code)


MakeSupervisor = Callable[[str], Supervisor]


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_supervisor(env: Env, tmp_path: Path, wall: FakeClock) -> Iterator[MakeSupervisor]:
    containers: list[Container] = []
    suffix = uuid.uuid4().hex[:8]

    def make(name: str) -> Supervisor:
        settings = make_settings(
            env.container.settings.database_url,
            tmp_path,
            executor_id=f"{name}-{suffix}",
            heartbeat_interval_s=1.0,
            executor_dead_after_s=10.0,
        )
        container = Container(settings, clock=env.clock, wall_clock=wall)
        containers.append(container)
        supervisor = Supervisor(container, exit=_exit)
        supervisor.register()
        return supervisor

    yield make
    for container in containers:
        container.close()


def test_a_worker_whose_work_was_recovered_exits_on_its_next_beat(
    make_supervisor: MakeSupervisor, wall: FakeClock
) -> None:
    a, b = make_supervisor("a"), make_supervisor("b")
    assert a.fence_after == timedelta(seconds=9)
    wall.advance(timedelta(seconds=10.5))  # a partition: a's beats stop reaching the database, b's go on
    b.beat()
    assert a.executor_id in b.recover_dead()
    with capture_logs() as logs, pytest.raises(Exited) as exited:
        a.beat()  # the partition heals: a's first beat finds its work gone
    assert exited.value.code == FENCED_EXIT_CODE == 75
    [fenced] = [e for e in logs if e["event"] == "supervisor.fenced"]
    assert fenced["executor"] == a.executor_id and fenced["log_level"] == "critical"
    assert fenced["reason"] == f"executor {b.executor_id!r} declared this one dead and recovered its workflows"
    with transaction(a.container.sessions) as session:
        row = ExecutorRepository(session).get(a.executor_id)
        assert row is not None and row.recovered_by == b.executor_id
        assert row.heartbeat_at == a.last_beat  # the refused beat wrote nothing


def test_a_worker_fences_itself_before_anyone_may_declare_it_dead(
    make_supervisor: MakeSupervisor, wall: FakeClock
) -> None:
    a, b = make_supervisor("a"), make_supervisor("b")
    wall.advance(timedelta(seconds=8.9))
    a.check_fence()  # within the fence interval: nothing happens
    wall.advance(timedelta(seconds=0.2))  # 9.1 s without a heartbeat reaching the database
    with capture_logs() as logs, pytest.raises(Exited) as exited:
        a.check_fence()  # no database needed: inside a partition it could not ask
    assert exited.value.code == FENCED_EXIT_CODE
    [fenced] = [e for e in logs if e["event"] == "supervisor.fenced"]
    assert fenced["reason"].startswith("no heartbeat reached the database for 9.1 s")
    b.beat()
    assert a.executor_id not in b.recover_dead()  # not dead yet: a stopped first (dead after 10 s)


def test_a_beat_that_lands_first_keeps_the_worker_alive_and_its_work_its_own(
    make_supervisor: MakeSupervisor, wall: FakeClock
) -> None:
    a, b = make_supervisor("a"), make_supervisor("b")
    wall.advance(timedelta(seconds=8))
    a.beat()
    b.beat()
    wall.advance(timedelta(seconds=8))  # 16 s since a registered, 8 since its last beat
    a.check_fence()
    assert a.executor_id not in b.recover_dead()
    a.beat()  # still its own: no fence


def test_a_second_process_that_took_the_id_over_fences_the_first(
    make_supervisor: MakeSupervisor, wall: FakeClock
) -> None:
    a = make_supervisor("a")
    with transaction(a.container.sessions) as session:  # the id registered again by a process on another host
        ExecutorRepository(session).register(a.executor_id, "other-host", 4242, wall.now())
    with capture_logs() as logs, pytest.raises(Exited):
        a.beat()
    [fenced] = [e for e in logs if e["event"] == "supervisor.fenced"]
    assert fenced["reason"] == f"another process (host other-host, pid 4242) holds executor id {a.executor_id!r}"


def test_liveness_reads_the_wall_clock_even_when_the_container_runs_on_a_simulated_one(
    env: Env, tmp_path: Path
) -> None:
    settings = make_settings(env.container.settings.database_url, tmp_path, executor_id=f"demo-{uuid.uuid4().hex[:8]}")
    container = Container(settings, clock=FakeClock())  # the demo's month: its clock is in 2026 and stands still
    try:
        supervisor = Supervisor(container, exit=_exit)
        supervisor.register()
        real = SystemClock().now()
        assert supervisor.last_beat is not None and abs(supervisor.last_beat - real) < timedelta(seconds=5)
        supervisor.check_fence()
        supervisor.beat()
    finally:
        container.close()
