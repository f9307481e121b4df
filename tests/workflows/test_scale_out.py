"""Several worker processes on one database: a dead executor's workflows are recovered, a live one's never."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.conftest import PG_ADMIN
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


@pytest.mark.slow
def test_a_paused_worker_whose_work_was_recovered_exits_at_once_when_it_resumes(
    fresh_database_url: str, tmp_path: Path
) -> None:
    if not fresh_database_url.startswith("postgresql"):
        # One SQLite file lives on one host: no partition can cut a worker off, and a paused process that holds
        # the file's write lock stalls every other process until it resumes (the fence itself is tested there
        # in-process, tests/workflows/test_fencing.py).
        pytest.skip("a partitioned worker needs a database server")
    upgrade(fresh_database_url)
    # The paused worker may be stopped inside a transaction; the server ends it, as it should in production.
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        name = fresh_database_url.rsplit("/", 1)[-1]
        conn.execute(f"ALTER DATABASE \"{name}\" SET idle_in_transaction_session_timeout = '1s'")
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
    a = WorkerProcess(env, tmp_path, "worker-a").start()
    workers = [a]
    try:
        assert httpx.post(f"{api.url}/v1/events", json=lead("e1", "c1"), headers=AUTH, timeout=10).status_code == 202
        assert receiver.holding.wait(timeout=30), "worker-a never started the send"
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)  # a partition, as a's threads see it: nothing it does lands
        workers.append(WorkerProcess(env, tmp_path, "worker-b").start())
        wait_done(api, "e1")  # b declared a dead after 3 s and ran e1 again: its send was answered
        assert recovered_by(fresh_database_url) == {"worker-a": "worker-b"}
        assert receiver.acknowledged_keys() == {"default:e1:send": 1}
        a.proc.send_signal(signal.SIGCONT)  # a wakes up in the middle of e1's send step
        assert a.proc.wait(timeout=10) == 75  # it stops at once, before running another step
        log = a.log.read_text(errors="replace")
        assert "supervisor.fenced" in log and "worker-a" in log, log[-2000:]
        gate.set()  # the send a had open is let go only now: a is gone, nobody sends it again
        assert httpx.post(f"{api.url}/v1/events", json=lead("e2", "c2"), headers=AUTH, timeout=10).status_code == 202
        wait_done(api, "e2")
        # Restarted fresh, a registers again and recovers only what is its own: nothing, e1 is b's now.
        (tmp_path / "again").mkdir()
        workers.append(WorkerProcess(env, tmp_path / "again", "worker-a").start())
        time.sleep(1)
        assert recovered_by(fresh_database_url) == {}
        assert receiver.all_keys() == {"default:e1:send": 2, "default:e2:send": 1}
        assert receiver.acknowledged_keys() == {"default:e1:send": 1, "default:e2:send": 1}
    finally:
        gate.set()
        for worker in workers:
            if worker.proc is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGCONT)
            worker.stop()
        api.stop()
        receiver.stop()
