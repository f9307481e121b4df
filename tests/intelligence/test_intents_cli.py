"""`nightcrew intents train --include-corrections`: a reviewer's corrected intent becomes training data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.cli import app
from nightcrew.config import Settings
from nightcrew.crm.models import Contact
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.intelligence.intents import IntentModel, bundled_examples
from nightcrew.review.models import ReviewItem
from nightcrew.review.repository import ReviewRepository

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CORRECTED = "no puedo el jueves, me la pasan al viernes?"


@pytest.fixture
def tenant(database_url: str) -> TenantRef:
    container = Container(Settings(database_url=database_url))
    try:
        return container.ensure_tenant(f"t{uuid.uuid4().hex[:10]}", "Corrections Academy")
    finally:
        container.close()


def _reject_with_correction(database_url: str, tenant: TenantRef, n: int, context: dict[str, str]) -> None:
    """A reviewer rejects a handoff and says which intent the message really had, as the review API does."""
    container = Container(Settings(database_url=database_url))
    try:
        with transaction(container.sessions) as session:
            contact = Contact(external_id=f"c-{n}", stage="engaged", created_at=NOW, updated_at=NOW)
            ContactRepository(session, tenant.id).add_all([contact])
            item = ReviewRepository(session, tenant.id).insert_once(
                ReviewItem(
                    contact_id=contact.id,
                    kind="handoff",
                    dedupe_key=f"test:{n}",
                    context=context,
                    deadline=NOW + timedelta(hours=4),
                    created_at=NOW,
                )
            )
            container.review.reject(
                session,
                tenant.id,
                item.id,
                reviewer="ana",
                reason="the model got the intent wrong",
                now=NOW,
                correction={"intent": "reschedule"},
            )
    finally:
        container.close()


def _examples_file(tmp_path: Path) -> tuple[Path, int]:
    """A small business file: 8 Spanish examples each of four intents from the bundled set."""
    chosen = []
    for intent in ("pricing", "cancel", "reschedule", "human"):
        chosen += [e for e in bundled_examples() if e.intent == intent and e.language == "es"][:8]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(e.model_dump(), ensure_ascii=False) + "\n" for e in chosen), encoding="utf-8")
    return path, len(chosen)


def _train(database_url: str, tenant: TenantRef, data: Path, model_dir: Path, *extra: str) -> dict[str, object]:
    args = ["intents", "train", "--data", str(data), "--model-dir", str(model_dir), "--tenant", tenant.slug, "--json"]
    result = CliRunner().invoke(app, [*args, *extra], env={"NIGHTCREW_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    output: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


def test_train_includes_the_tenants_intent_corrections(database_url: str, tenant: TenantRef, tmp_path: Path) -> None:
    data, n_file = _examples_file(tmp_path)
    _reject_with_correction(database_url, tenant, 1, {"inbound_text": CORRECTED, "language": "es", "intent": "booking"})
    # A handoff that never held a message gives a label without a text: counted, not trained on.
    _reject_with_correction(database_url, tenant, 2, {"intent": "other"})

    without = _train(database_url, tenant, data, tmp_path / "plain")
    assert (without["n_examples"], without["corrections_added"], without["corrections_skipped"]) == (n_file, 0, 0)

    with_them = _train(database_url, tenant, data, tmp_path / "corrected", "--include-corrections")
    assert (with_them["n_examples"], with_them["corrections_added"], with_them["corrections_skipped"]) == (
        n_file + 1,
        1,
        1,
    )
    model = IntentModel.load(tmp_path / "corrected")
    assert model.metadata.n_examples == n_file + 1
    assert model.metadata.data_sha256 != IntentModel.load(tmp_path / "plain").metadata.data_sha256
    assert model.metadata.examples_per_language == {"es": n_file + 1}


def test_corrections_of_another_tenant_are_not_used(database_url: str, tenant: TenantRef, tmp_path: Path) -> None:
    data, n_file = _examples_file(tmp_path)
    container = Container(Settings(database_url=database_url))
    try:
        other = container.ensure_tenant(f"t{uuid.uuid4().hex[:10]}", "Another Academy")
    finally:
        container.close()
    _reject_with_correction(database_url, other, 3, {"inbound_text": CORRECTED, "language": "es"})
    trained = _train(database_url, tenant, data, tmp_path / "m", "--include-corrections")
    assert (trained["n_examples"], trained["corrections_added"]) == (n_file, 0)
