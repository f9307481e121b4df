"""The lead workflow classifies with the promoted model and says why; without one it says it used the default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.db import transaction
from nightcrew.intelligence.segments import save_model, train_segment_model
from nightcrew.observe.service import AuditQueries
from nightcrew.simulate.history import generate_history
from nightcrew.workflows.dispatch import ingest


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    history = generate_history(3000, seed=3, end_date=datetime(2026, 3, 1))
    result = train_segment_model(
        history,
        "enrolled",
        id_column="lead_id",
        drop=("response_minutes",),
        reference_time=datetime(2026, 3, 1, tzinfo=UTC),
        positive_class="yes",
    )
    return result, save_model(result.model, tmp_path_factory.mktemp("model"))


def test_promoted_model_classifies_with_reasons(env: Env, trained: tuple[Any, Any], tmp_path: Path) -> None:
    result, info = trained
    with transaction(env.container.sessions) as session:
        row = env.container.registry.register_lead_model(
            session, env.tenant.id, result, info, target="enrolled", now=env.clock.now()
        )
        decision = env.container.registry.promote_lead_model(
            session, env.tenant.id, row.version, now=env.clock.now(), strict_accuracy=False
        )
        assert decision.allowed, decision.failed
    fields = {
        "child_age": 12,
        "country": "CO",
        "city": "Bogotá",
        "inquiry_type": "coding_course",
        "source": "referral",
        "preferred_channel": "whatsapp",
        "parent_language": "es",
        "number_of_children": 2,
        "asked_price": True,
        "first_message": "quiero inscribir a mi hijo ya",
    }
    report = ingest(env.container, env.tenant, [lead("evt-m1", "c-m1", fields=fields)], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    with transaction(env.container.sessions) as session:
        actions = AuditQueries().event_with_actions(session, env.tenant.id, "evt-m1")["actions"]
    [classified] = [a for a in actions if a["kind"] == "lead.classified"]
    assert classified["model"] == f"lead-model-v{row.version}"
    assert 0.0 <= classified["output"]["probability"] <= 1.0
    assert classified["output"]["segment"] in {"hot", "warm", "cold"}
    assert classified["confidence"] is not None
    assert any(" P(enrolled) by " in why for why in classified["output"]["why"]), classified["output"]["why"]
    assert "P(enrolled)=" in classified["reason"]


def test_refused_model_never_becomes_active(env: Env, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    noise = pd.DataFrame(
        {
            "a": rng.normal(size=600),
            "b": rng.choice(["x", "y"], size=600),
            "won": np.where(rng.random(600) < 0.08, "yes", "no"),
        }
    )
    result = train_segment_model(noise, "won", reference_time=datetime(2026, 3, 1, tzinfo=UTC))
    info = save_model(result.model, tmp_path / "noise")
    with transaction(env.container.sessions) as session:
        row = env.container.registry.register_lead_model(
            session, env.tenant.id, result, info, target="won", now=env.clock.now()
        )
        decision = env.container.registry.promote_lead_model(session, env.tenant.id, row.version, now=env.clock.now())
    assert not decision.allowed
    assert "accuracy_beats_base_rate" in {c.name for c in decision.failed} or "auc_above_chance" in {
        c.name for c in decision.failed
    }
    assert env.container.models.active_lead_model(env.tenant) is None
