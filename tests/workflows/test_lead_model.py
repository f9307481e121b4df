"""The lead workflow classifies with the promoted model and says why; without one it says it used the default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead
from tests.support.playbooks import custom_playbook

from nightcrew.db import transaction
from nightcrew.intelligence.segments import save_model, train_segment_model
from nightcrew.observe.service import AuditQueries
from nightcrew.review.repository import ReviewRepository
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


def test_a_lead_the_model_is_unsure_about_goes_to_review_not_to_the_contact(
    env: Env, trained: tuple[Any, Any], tmp_path: Path
) -> None:
    def unsure_below_99(data: dict[str, Any]) -> None:
        data["thresholds"]["segment_confidence"] = 0.99

    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}u", "Unsure tenant", custom_playbook(tmp_path / "pb", unsure_below_99)
    )
    result, info = trained
    with transaction(env.container.sessions) as session:
        row = env.container.registry.register_lead_model(
            session, tenant.id, result, info, target="enrolled", now=env.clock.now()
        )
        assert env.container.registry.promote_lead_model(
            session, tenant.id, row.version, now=env.clock.now(), strict_accuracy=False
        ).allowed
    fields = {"child_age": 8, "country": "MX", "inquiry_type": "english_course", "source": "instagram"}
    report = ingest(env.container, tenant, [lead("evt-u1", "c-u1", fields=fields)], source="test")
    outcome = DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    assert outcome["status"] == "done" and outcome["verdict"] == "review"
    with transaction(env.container.sessions) as session:
        actions = AuditQueries().event_with_actions(session, tenant.id, "evt-u1")["actions"]
        [item] = ReviewRepository(session, tenant.id).list("open", limit=10, offset=0)
        assert item.kind == "message" and item.message_id is not None
    [classified] = [a for a in actions if a["kind"] == "lead.classified"]
    [verdict] = [a for a in actions if a["kind"] == "guardrail.verdict"]
    assert f"segment confidence {classified['confidence']:.2f} < 0.99" in verdict["reason"]
    assert not any(a["kind"] == "message.sent" for a in actions)
