"""Replay: a recorded decision re-run from its inputs matches; under another model version it changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead, message

from nightcrew.db import transaction
from nightcrew.intelligence.segments import save_model, train_segment_model
from nightcrew.observe.replay import replay, shadow
from nightcrew.observe.service import AuditQueries
from nightcrew.simulate.history import generate_history
from nightcrew.workflows.dispatch import ingest


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, Any]]:
    history = generate_history(2500, seed=5, end_date=datetime(2026, 3, 1))
    # The second model learned from a business where the opposite families enrolled: it disagrees.
    flipped = history.assign(enrolled=history["enrolled"].map({"yes": "no", "no": "yes"}))
    out = []
    for index, frame in enumerate((history, flipped)):
        result = train_segment_model(
            frame,
            "enrolled",
            id_column="lead_id",
            drop=("response_minutes",),
            reference_time=datetime(2026, 3, 1, tzinfo=UTC),
            positive_class="yes",
        )
        out.append((result, save_model(result.model, tmp_path_factory.mktemp(f"m{index}"))))
    return out


def actions_of(env: Env, event_id: str) -> dict[str, dict[str, Any]]:
    with transaction(env.container.sessions) as session:
        return {a["kind"]: a for a in AuditQueries().event_with_actions(session, env.tenant.id, event_id)["actions"]}


def test_replay_matches_and_another_model_changes_the_decision(env: Env, two_models: list[tuple[Any, Any]]) -> None:
    versions = []
    with transaction(env.container.sessions) as session:
        for result, info in two_models:
            row = env.container.registry.register_lead_model(
                session, env.tenant.id, result, info, target="enrolled", now=env.clock.now()
            )
            versions.append(row.version)
        env.container.registry.promote_lead_model(
            session, env.tenant.id, versions[0], now=env.clock.now(), strict_accuracy=False
        )
    fields = {
        "child_age": 12,
        "country": "CO",
        "inquiry_type": "coding_course",
        "source": "referral",
        "preferred_channel": "whatsapp",
        "number_of_children": 2,
        "asked_price": True,
    }
    report = ingest(env.container, env.tenant, [lead("r-1", "rc-1", fields=fields)], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    classified = actions_of(env, "r-1")["lead.classified"]
    same = replay(env.container, env.tenant, classified["id"])
    assert same["matches"] is True and same["differences"] == []
    other = replay(env.container, env.tenant, classified["id"], model_version=versions[1])
    assert other["matches"] is False
    changed = {d["field"]: d for d in other["differences"]}
    assert changed["probability"]["recorded"] != changed["probability"]["replayed"]
    composed = actions_of(env, "r-1")["message.composed"]
    assert replay(env.container, env.tenant, composed["id"])["matches"] is True
    verdict = actions_of(env, "r-1")["guardrail.verdict"]
    replayed_verdict = replay(env.container, env.tenant, verdict["id"])
    assert replayed_verdict["matches"] is True, replayed_verdict["differences"]


def test_intent_replay_and_shadow_simulation(env: Env) -> None:
    run = ingest(env.container, env.tenant, [lead("s-1", "sc-1")], source="test")
    DBOS.retrieve_workflow(run.accepted[0].workflow_id).get_result()
    env.clock.advance(timedelta(minutes=5))
    inbound = ingest(
        env.container,
        env.tenant,
        [message("s-2", "sc-1", "cuanto cuesta el curso de ingles?", occurred_at=env.clock.now().isoformat())],
        source="test",
    )
    DBOS.retrieve_workflow(inbound.accepted[0].workflow_id).get_result()
    understood = actions_of(env, "s-2")["inbound.understood"]
    result = replay(env.container, env.tenant, understood["id"])
    assert result["matches"] is True and result["replayed"]["intent"] == "pricing"
    report = shadow(env.container, env.tenant, env.clock.now() - timedelta(days=1), env.clock.now() + timedelta(days=1))
    assert report["examined"] == {"lead.created": 1, "message.received": 1}
    assert report["would_change"] == {"segment": 0, "intent": 0, "team": 0}


def test_only_decisions_are_replayable(env: Env, tmp_path: Path) -> None:
    from nightcrew.errors import ValidationFailed

    run = ingest(env.container, env.tenant, [lead("n-1", "nc-1")], source="test")
    DBOS.retrieve_workflow(run.accepted[0].workflow_id).get_result()
    sent = actions_of(env, "n-1")["message.sent"]
    with pytest.raises(ValidationFailed, match="replayable kinds"):
        replay(env.container, env.tenant, sent["id"])
