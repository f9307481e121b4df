"""The model provider fails under load, through real processes: messages wait, then drain once each."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.faults.scenarios import run_outage


@pytest.mark.slow
def test_messages_wait_for_the_model_and_drain_exactly_once_when_it_returns(tmp_path: Path) -> None:
    report = run_outage(
        f"sqlite:///{tmp_path / 'outage.db'}",
        tmp_path,
        rate_per_s=2.0,
        duration_s=8.0,
        outage=(1.0, 5.0),
        cooldown_s=2.0,
        sweep_s=5,
        timeout_s=30.0,
    )
    assert report.accepted == 16
    assert report.queued >= 4  # the leads that arrived while the provider was down waited for it
    assert report.drained == report.queued and report.lost == 0
    assert report.statuses == {f"outage-{i:05d}": "done" for i in range(16)}
    deliveries = report.deliveries
    assert len(deliveries.acknowledged) == 16 and deliveries.lost == [] and report.duplicated == 0
    assert report.template_bodies == 0  # the playbook allows no template fallback: every text is the model's
    # The breaker opened after 3 failures: most leads in the window never called the dead provider.
    assert report.calls_during_outage <= 3 + 4
    assert report.drain_s is not None
