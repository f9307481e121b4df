"""SIGKILL the process in the middle of a workflow: on restart it completes, and the message is delivered once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from dbos import DBOSClient
from tests.support.events import lead
from tests.support.processes import NightcrewProcess, free_port, open_all_hours_playbook
from tests.support.receiver import Receiver

from nightcrew.migrations import upgrade

AUTH = {"Authorization": "Bearer crash-key"}


@pytest.mark.slow
def test_sigkill_mid_send_then_restart_delivers_exactly_once(fresh_database_url: str, tmp_path: Path) -> None:
    upgrade(fresh_database_url)
    gate = threading.Event()
    receiver = Receiver(hold=gate).start()
    env = {
        "NIGHTCREW_DATABASE_URL": fresh_database_url,
        "NIGHTCREW_API_KEY": "crash-key",
        "NIGHTCREW_OUTBOUND_WEBHOOK_URL": receiver.url,
        "NIGHTCREW_EXECUTOR_ID": "crash-test-executor",
        "NIGHTCREW_QUEUE_POLLING_INTERVAL": "0.05",
        "NIGHTCREW_PLAYBOOK": str(open_all_hours_playbook(tmp_path / "playbook")),
        "NIGHTCREW_WEBHOOK_TIMEOUT_S": "30",
        "NIGHTCREW_LOG_LEVEL": "WARNING",
    }
    server = NightcrewProcess(env, tmp_path, free_port()).start()
    try:
        posted = httpx.post(f"{server.url}/v1/events", json=lead("evt-crash", "c-crash"), headers=AUTH, timeout=10)
        assert posted.status_code == 202
        # The receiver holds the request open: the worker is inside the send step, after classification.
        assert receiver.holding.wait(timeout=30), "the send never started"
        before = httpx.get(f"{server.url}/v1/events/evt-crash", headers=AUTH, timeout=10).json()
        assert before["status"] == "processing"
        assert "lead.classified" in [a["kind"] for a in before["actions"]]
        assert "message.sent" not in [a["kind"] for a in before["actions"]]
        server.kill()
        gate.set()

        server = NightcrewProcess(env, tmp_path, free_port()).start()  # same executor id: it recovers its own work
        deadline = time.monotonic() + 60
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = httpx.get(f"{server.url}/v1/events/evt-crash", headers=AUTH, timeout=10).json()
            if status["status"] == "done":
                break
            time.sleep(0.2)
        assert status["status"] == "done", status
        key = "default:evt-crash:send"
        assert receiver.acknowledged_keys() == {key: 1}
        assert receiver.all_keys() == {key: 2}  # the cut-off attempt and the resumed one: same key
        kinds = [a["kind"] for a in status["actions"]]  # type: ignore[union-attr]
        assert kinds.count("lead.classified") == 1 and kinds.count("message.sent") == 1
        client = DBOSClient(system_database_url=fresh_database_url)
        steps = [s["function_name"] for s in client.list_workflow_steps("default:evt-crash")]
        assert steps.count("lead.classify") == 1 and steps.count("message.send") == 1
        client.destroy()
    finally:
        gate.set()
        server.stop()
        receiver.stop()
