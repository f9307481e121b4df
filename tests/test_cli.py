"""The command line, run as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.llm_server import FakeLLMServer
from tests.support.playbooks import custom_playbook

from nightcrew.ai.breaker import BreakerSnapshot, BreakerState
from nightcrew.ai.ledger import CallRecord
from nightcrew.ai.repository import DatabaseBreakers, DatabaseLedger
from nightcrew.bootstrap import Container
from nightcrew.config import Settings
from nightcrew.migrations import upgrade

EXE = str(Path(sys.executable).parent / "nightcrew")


def nightcrew(
    *args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [EXE, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nightcrew {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_init_writes_a_playbook_that_loads(tmp_path: Path) -> None:
    nightcrew("init", "mybiz", cwd=tmp_path)
    assert (tmp_path / "mybiz" / "playbook.yaml").is_file()
    assert (tmp_path / "mybiz" / "templates" / "pt" / "first_touch_hot.j2").is_file()
    again = nightcrew("init", "mybiz", cwd=tmp_path, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = nightcrew("db", "upgrade", cwd=tmp_path, env={"NIGHTCREW_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert "revision" in result.stdout
    assert (tmp_path / "x.db").exists()


def test_bad_settings_are_a_clear_error(tmp_path: Path) -> None:
    result = nightcrew("db", "upgrade", cwd=tmp_path, env={"NIGHTCREW_DATABASE_URL": "mysql://x"}, check=False)
    assert result.returncode == 2 and "database_url" in result.stderr


def test_providers_shows_stored_breakers_and_only_the_tenants_calls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    upgrade(url)

    def edit(data: dict[str, Any]) -> None:
        data["routing"]["tiers"]["capable"] = [
            {"provider": "openai", "name": "shared", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            {"provider": "local"},
        ]

    playbook = custom_playbook(tmp_path / "pb", edit)
    container = Container(Settings(database_url=url, executor_id="cli-test"))
    try:
        for slug in ("alpha", "beta"):
            container.ensure_tenant(slug, slug, playbook)
        at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        ledger = DatabaseLedger(container.sessions)
        for i in range(3):
            ledger.record(
                CallRecord(
                    call_id=f"a{i}",
                    attempt=1,
                    at=at + timedelta(minutes=i),
                    task="compose_outreach",
                    tier="capable",
                    endpoint="shared",
                    provider="openai",
                    model="m",
                    tenant="alpha",
                    contact=None,
                    outcome="failed",
                    error="HTTP 503",
                )
            )
        ledger.record(
            CallRecord(
                call_id="b",
                attempt=1,
                at=at + timedelta(minutes=5),
                task="compose_outreach",
                tier="capable",
                endpoint="shared",
                provider="openai",
                model="m",
                tenant="beta",
                contact=None,
                outcome="ok",
            )
        )
        opened_at = datetime(2099, 1, 1, tzinfo=UTC)  # still open when the command runs
        snapshot = BreakerSnapshot("shared", BreakerState.OPEN, 5, opened_at, opened_at + timedelta(minutes=2), 5, 0, 1)
        DatabaseBreakers(container.sessions, "worker-1").transition(
            "shared", "http://127.0.0.1:9/v1", snapshot, opened_at
        )
        other = BreakerSnapshot("shared", BreakerState.CLOSED, 0, None, None, 0, 1, 0)
        DatabaseBreakers(container.sessions, "worker-2").transition("shared", "http://elsewhere:9/v1", other, opened_at)
    finally:
        container.close()
    env = {"NIGHTCREW_DATABASE_URL": url}
    alpha = {
        r["endpoint"]: r
        for r in json.loads(nightcrew("providers", "--tenant", "alpha", "--json", cwd=tmp_path, env=env).stdout)
    }
    beta = {
        r["endpoint"]: r
        for r in json.loads(nightcrew("providers", "--tenant", "beta", "--json", cwd=tmp_path, env=env).stdout)
    }
    assert alpha["shared"]["breaker"] == "open"
    assert [b["executor_id"] for b in alpha["shared"]["breakers"]] == ["worker-1"]  # not another server's row
    assert alpha["shared"]["breakers"][0]["failures_in_a_row"] == 5
    assert (alpha["shared"]["failures_in_a_row"], alpha["shared"]["recent_calls"]) == (3, 3)  # beta's ok is not here
    assert alpha["shared"]["status"] == "failing" and alpha["shared"]["last_success"] is None
    assert (beta["shared"]["status"], beta["shared"]["recent_calls"]) == ("ok", 1)
    assert alpha["local"]["breaker"] is None
    table = nightcrew("providers", "--tenant", "alpha", cwd=tmp_path, env={**env, "COLUMNS": "250"}).stdout
    assert "worker-1: open" in table


@pytest.mark.slow
def test_demo_with_a_playbook_calls_its_configured_capable_tier_and_does_not_say_simulated(tmp_path: Path) -> None:
    def answer(request: Any) -> str:
        if '"label"' in request.system:
            return json.dumps({"label": "other", "confidence": 0.5})
        if '"summary"' in request.system:
            return json.dumps({"summary": "a summary"})
        language = "pt" if "Portuguese" in request.system else "en" if "Write in English" in request.system else "es"
        return json.dumps({"text": "Gracias por escribir.", "language": language})

    with FakeLLMServer(responder=answer) as server:

        def edit(data: dict[str, Any]) -> None:
            data["routing"]["tiers"]["capable"] = [
                {"provider": "openai", "name": "own-server", "base_url": server.openai_base_url, "model": "m"}
            ]

        playbook = custom_playbook(tmp_path / "pb", edit)
        nightcrew("demo", "--leads", "6", "--days", "2", "--playbook", str(playbook), "--json", "r.json", cwd=tmp_path)
        calls = server.count()
    report = json.loads((tmp_path / "r.json").read_text())
    assert calls > 0 and report["costs"]["simulated"] is False
    assert report["costs"]["capable_endpoints"] == ["own-server"]
    assert report["failover"]["outage"] is None  # a configured provider is not taken down
    assert report["messages_by_purpose"]["outreach"] == 6 and report["failover"]["messages_lost"] == 0
    missing = nightcrew("demo", "--playbook", str(tmp_path / "nope.yaml"), cwd=tmp_path, check=False)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


def test_serve_refuses_to_run_without_an_api_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NIGHTCREW_API_KEY"}
    result = subprocess.run([EXE, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "NIGHTCREW_API_KEY" in result.stderr


@pytest.mark.slow
def test_demo_runs_a_small_month_and_the_trace_command_reads_it(tmp_path: Path) -> None:
    # The simulated provider is down from 18:00 to 21:00 UTC on the first day, when the first replies are written.
    nightcrew(
        "demo",
        "--leads",
        "25",
        "--days",
        "5",
        "--outage-day",
        "0.5",
        "--outage-hours",
        "3",
        "--json",
        "report.json",
        cwd=tmp_path,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["messages_by_purpose"]["outreach"] == 25  # one first message per lead, duplicates ignored
    assert report["duplicate_events_ignored"] >= 1
    assert report["duplicate_sends"] == 0 and report["lost_events"] == 0 and report["failed"] == 0
    assert report["deferred"] > 0
    assert set(report["messages_by_language"]) <= {"es", "pt", "en"}
    assert report["lead_model"]["promoted"] is True and report["lead_model"]["holdout"]["roc_auc"] > 0.6
    assert report["intent_model"]["macro_f1"] > 0.8
    for section in ("inbound", "routed_to", "followups", "costs", "failover", "guardrails", "outcomes"):
        assert section in report
    failover = report["failover"]
    assert failover["outage"] == {"starts_after_days": 0.5, "hours": 3.0}
    assert failover["queued_messages"] > 0 and failover["drained"] == failover["queued_messages"]
    assert failover["max_queue_depth"] >= 1 and failover["calls_failed"] > 0
    assert failover["messages_lost"] == 0 and set(failover["lost_breakdown"].values()) == {0}
    assert failover["duplicates"] == 0 and set(failover["duplicates_breakdown"].values()) == {0}
    assert report["costs"]["simulated"] is True and report["costs"]["capable_endpoints"] == ["simulated-gpt"]
    lines = (tmp_path / "nightcrew-demo-outbox.jsonl").read_text().splitlines()
    assert len(lines) == report["messages_sent"]
    contact = json.loads(lines[0])["contact_external_id"]
    env = {"NIGHTCREW_DATABASE_URL": f"sqlite:///{tmp_path}/nightcrew-demo.db"}
    shown = nightcrew("trace", contact, "--json", cwd=tmp_path, env=env)
    timeline = json.loads(shown.stdout)
    kinds = [item["action"]["kind"] for item in timeline["items"] if item["type"] == "action"]
    assert "lead.classified" in kinds and "message.sent" in kinds
    table = nightcrew("trace", contact, cwd=tmp_path, env={**env, "COLUMNS": "250"})
    assert "lead.classified" in table.stdout
    missing = nightcrew("trace", "nobody", cwd=tmp_path, env=env, check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
