"""SIGKILL the worker three times while 20 lead events flow: every event ends done, every message arrives once."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.faults.scenarios import run_crash


@pytest.mark.slow
def test_three_sigkills_during_twenty_events_deliver_every_message_exactly_once(tmp_path: Path) -> None:
    report = run_crash(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path, events=20, kills=3, alive_s=(0.1, 0.8), seed=3)
    ids = [f"crash-{i:04d}" for i in range(20)]
    assert len(report.kills) == 3
    assert report.kills[0].mid_send  # the first kill lands inside a send the receiver holds open
    assert report.statuses == dict.fromkeys(ids, "done")
    # One message.sent per event, under the key made from the workflow id and the step name.
    assert report.sent_actions == {e: [f"default:{e}:send"] for e in ids}
    deliveries = report.deliveries
    assert set(deliveries.acknowledged) == {f"default:{e}:send" for e in ids}
    assert deliveries.lost == [] and deliveries.unexpected == []
    # Every request for a message, the cut-off one included, carried that message's one key.
    assert all(len(keys) == 1 for keys in deliveries.keys_per_message.values())
    assert all(len(keys) == 1 for keys in deliveries.keys_per_contact.values())
    assert deliveries.requests > len(ids)  # the held request was sent again after the restart
    assert report.lost == 0 and report.duplicate_sends == 0
