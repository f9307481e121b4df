"""Several worker processes on one database: a dead executor's workflows are recovered, a live one's never."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.support.events import lead
from tests.support.processes import NightcrewProcess, WorkerProcess, free_port, open_all_hours_playbook
from tests.support.receiver import Receiver

from nightcrew.migrations import upgrade

AUTH = {"Authorization": "Bearer scale-key"}


def recovered_by(url: str) -> dict[str, str]:
    """Which executor took over which dead one."""
    from sqlalchemy import select

    from nightcrew.db import make_engine, make_session_factory, transaction
    from nightcrew.events.models import Executor

    engine = make_engine(url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            rows = session.scalars(select(Executor).where(Executor.recovered_by.is_not(None))).all()
            return {row.executor_id: str(row.recovered_by) for row in rows}
    finally:
        engine.dispose()


def wait_done(api: NightcrewProcess, event_id: str, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{api.url}/v1/events/{event_id}", headers=AUTH, timeout=10).json()
        if status.get("status") == "done":
            return status
        time.sleep(0.2)
    raise AssertionError(f"{event_id} not done: {status}")


@pytest.mark.slow
def test_dead_executor_is_recovered_by_a_live_one_and_a_live_one_never(fresh_database_url: str, tmp_path: Path) -> None:
    upgrade(fresh_database_url)
    gate = threading.Event()
    receiver = Receiver(hold=gate).start()
    env = {
        "NIGHTCREW_DATABASE_URL": fresh_database_url,
        "NIGHTCREW_API_KEY": "scale-key",
        "NIGHTCREW_OUTBOUND_WEBHOOK_URL": receiver.url,
        "NIGHTCREW_QUEUE_POLLING_INTERVAL": "0.05",
        "NIGHTCREW_PLAYBOOK": str(open_all_hours_playbook(tmp_path / "playbook")),
        "NIGHTCREW_WEBHOOK_TIMEOUT_S": "60",
        "NIGHTCREW_HEARTBEAT_INTERVAL_S": "0.5",
        "NIGHTCREW_EXECUTOR_DEAD_AFTER_S": "3",
        "NIGHTCREW_LOG_LEVEL": "WARNING",
        "NIGHTCREW_EXECUTOR_ID": "api-1",
    }
    api = NightcrewProcess(env, tmp_path, free_port(), api_only=True).start()
    workers = [WorkerProcess(env, tmp_path, "worker-a").start()]
    try:
        assert httpx.post(f"{api.url}/v1/events", json=lead("e1", "c1"), headers=AUTH, timeout=10).status_code == 202
        assert receiver.holding.wait(timeout=30), "worker-a never started the send"
        workers[0].kill()  # its heartbeat stops; the send it started was never acknowledged
        gate.set()
        workers.append(WorkerProcess(env, tmp_path, "worker-b").start())
        wait_done(api, "e1")
        assert receiver.acknowledged_keys() == {"default:e1:send": 1}
        assert receiver.all_keys() == {"default:e1:send": 2}
        assert recovered_by(fresh_database_url) == {"worker-a": "worker-b"}

        # worker-b now holds a send open while worker-c starts: b is alive, so c must not take its work.
        second = threading.Event()
        receiver.holding.clear()
        receiver.hold = second
        assert httpx.post(f"{api.url}/v1/events", json=lead("e2", "c2"), headers=AUTH, timeout=10).status_code == 202
        assert receiver.holding.wait(timeout=30)
        workers.append(WorkerProcess(env, tmp_path, "worker-c").start())
        time.sleep(5)  # longer than the dead-after interval: b keeps beating, so nothing is recovered
        assert receiver.all_keys()["default:e2:send"] == 1
        assert recovered_by(fresh_database_url) == {"worker-a": "worker-b"}  # nobody took over worker-b
        second.set()
        wait_done(api, "e2")
        assert receiver.acknowledged_keys()["default:e2:send"] == 1
    finally:
        gate.set()
        for worker in workers:
            worker.stop()
        api.stop()
        receiver.stop()


def test_a_second_process_with_a_live_executor_id_is_refused(fresh_database_url: str, tmp_path: Path) -> None:
    upgrade(fresh_database_url)
    env = {"NIGHTCREW_DATABASE_URL": fresh_database_url, "NIGHTCREW_LOG_LEVEL": "WARNING"}
    first = WorkerProcess(env, tmp_path, "same-id").start()
    try:
        second = WorkerProcess(env, tmp_path / "b", "same-id")
        (tmp_path / "b").mkdir()
        with pytest.raises(RuntimeError, match="in use by a live process"):
            second.start()
    finally:
        first.stop()
