"""A short sustained ingest from a second process against `nightcrew serve`: every accepted event ends done."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.faults.scenarios import run_load


@pytest.mark.slow
def test_five_seconds_of_ingest_from_two_clients_lose_nothing(tmp_path: Path) -> None:
    report = run_load(f"sqlite:///{tmp_path / 'load.db'}", tmp_path, seconds=5.0, threads=2, drain_timeout_s=120.0)
    codes = Counter(status for _, status, _ in report.results)
    assert codes == {202: len(report.results)}, codes  # every request accepted: no errors, no 429, no 5xx
    assert report.errors == 0
    assert len(report.accepted) >= 10  # a load, not a trickle: two closed-loop clients for five seconds
    assert len(set(report.accepted)) == len(report.accepted)
    # Each accepted id, read back through GET /v1/events/{id} after the backlog drained, is done.
    assert report.statuses == dict.fromkeys(report.accepted, "done")
    assert report.lost == 0
