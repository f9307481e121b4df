"""`nightcrew replay` and `nightcrew simulate` as an operator runs them, on decisions the real workflows recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead, message
from tests.support.playbooks import custom_playbook

from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows.dispatch import ingest

EXE = str(Path(sys.executable).parent / "nightcrew")


def nightcrew(env: Env, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    variables = {
        **os.environ,
        "NIGHTCREW_DATABASE_URL": env.container.settings.database_url,
        "NIGHTCREW_LOG_LEVEL": "WARNING",
        "NIGHTCREW_EXECUTOR_ID": f"cli-{os.getpid()}",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [EXE, *args, "--tenant", env.tenant.slug], env=variables, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nightcrew {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def record_a_lead_and_a_pricing_question(env: Env) -> dict[str, dict[str, Any]]:
    """Run the lead and inbound workflows; the actions they recorded, by kind."""
    for event in (lead("cli-1", "cli-c1"), None):
        if event is None:
            env.clock.advance(timedelta(minutes=5))
            event = message(
                "cli-2", "cli-c1", "cuanto cuesta el curso de ingles?", occurred_at=env.clock.now().isoformat()
            )
        report = ingest(env.container, env.tenant, [event], source="test")
        DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    recorded: dict[str, dict[str, Any]] = {}
    with transaction(env.container.sessions) as session:
        for key in ("cli-1", "cli-2"):
            for action in AuditQueries().event_with_actions(session, env.tenant.id, key)["actions"]:
                recorded[action["kind"]] = action
    return recorded


@pytest.mark.slow
def test_replay_of_a_recorded_classification_matches(env: Env) -> None:
    recorded = record_a_lead_and_a_pricing_question(env)
    classified = recorded["lead.classified"]

    as_json = json.loads(nightcrew(env, "replay", str(classified["id"]), "--json").stdout)
    assert as_json["kind"] == "lead.classified" and as_json["matches"] is True and as_json["differences"] == []
    assert as_json["replayed"]["segment"] == classified["output"]["segment"]

    understood = recorded["inbound.understood"]
    text = nightcrew(env, "replay", str(understood["id"])).stdout
    assert f"action #{understood['id']} (inbound.understood at" in text and "matches" in text
    assert "intent: recorded 'pricing' -> replayed 'pricing'" in text

    not_a_decision = nightcrew(env, "replay", str(recorded["message.sent"]["id"]), check=False)
    assert not_a_decision.returncode == 1 and "replayable kinds" in not_a_decision.stderr
    unknown_model = nightcrew(env, "replay", str(classified["id"]), "--model", "999", check=False)
    assert unknown_model.returncode == 1 and "no lead model version 999" in unknown_model.stderr


@pytest.mark.slow
def test_simulate_over_a_period_reports_what_would_change(env: Env, tmp_path: Path) -> None:
    record_a_lead_and_a_pricing_question(env)
    recorded_team = "admissions-es"

    def new_rules(data: dict[str, Any]) -> None:
        # Since the events were recorded: leads start cold, and price questions go to billing.
        data["default_segment"] = "cold"
        data["assignment"]["rules"].insert(0, {"intents": ["pricing"], "team": "billing"})

    env.container.ensure_tenant(env.tenant.slug, playbook_path=custom_playbook(tmp_path / "pb", new_rules))
    day = env.clock.now().date()
    period = ["--from", (day - timedelta(days=1)).isoformat(), "--to", (day + timedelta(days=1)).isoformat()]

    report = json.loads(nightcrew(env, "simulate", *period, "--json").stdout)
    assert report["examined"] == {"lead.created": 1, "message.received": 1}
    assert report["would_change"] == {"segment": 1, "intent": 0, "team": 1}
    [segment] = report["examples"]["segment"]
    assert (segment["event"], segment["was"], segment["would_be"]) == ("cli-1", "warm", "cold")
    assert report["examples"]["team"] == [{"event": "cli-2", "was": recorded_team, "would_be": "billing"}]

    text = nightcrew(env, "simulate", *period).stdout
    assert "2 events examined (1 lead.created, 1 message.received)" in text
    assert "team: 1 would change" in text and f"cli-2: {recorded_team} -> billing" in text
    assert "intent: 0 would change" in text

    later = ["--from", (day + timedelta(days=30)).isoformat(), "--to", (day + timedelta(days=31)).isoformat()]
    quiet = json.loads(nightcrew(env, "simulate", *later, "--json").stdout)
    assert quiet["examined"] == {"lead.created": 0, "message.received": 0}
    assert quiet["would_change"] == {"segment": 0, "intent": 0, "team": 0}
