"""`nightcrew leads train/evaluate/promote/models` as an operator runs them, on a fresh database and CSV exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from nightcrew.simulate.history import generate_history

EXE = str(Path(sys.executable).parent / "nightcrew")
METRIC_KEYS = {
    "n_rows",
    "classes",
    "base_rate",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "roc_auc",
    "log_loss",
    "brier",
    "lift_at_10pct",
    "calibration",
    "warnings",
}


def nightcrew(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NIGHTCREW_DATABASE_URL": f"sqlite:///{folder}/nc.db", "NIGHTCREW_LOG_LEVEL": "WARNING"}
    return subprocess.run([EXE, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh install: schema only, no tenant yet; a two-year export (semicolons) and a later held-out file."""
    path = tmp_path_factory.mktemp("leads-cli")
    assert nightcrew(path, "db", "upgrade").returncode == 0
    generate_history(2500, 5, datetime(2026, 1, 1)).to_csv(path / "history.csv", sep=";", index=False)
    later = generate_history(800, 6, datetime(2026, 3, 1))
    later.to_csv(path / "later.csv", index=False)
    later.drop(columns=["source"]).to_csv(path / "later-without-source.csv", index=False)
    later.drop(columns=["enrolled"]).to_csv(path / "unlabelled.csv", index=False)
    generate_history(1500, 8, datetime(2026, 1, 1), include_leaky=True).to_csv(path / "leaky.csv", index=False)
    return path


def train(folder: Path, csv: str, model_dir: str) -> dict[str, Any]:
    done = nightcrew(
        folder,
        *("leads", "train", "--csv", csv, "--target", "enrolled", "--id-column", "lead_id"),
        *("--drop", "response_minutes", "--model-dir", model_dir, "--json"),
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_train_evaluate_promote_and_list_on_a_fresh_install(folder: Path) -> None:
    trained = train(folder, "history.csv", "models/v1")
    metrics = trained["metrics"]
    assert set(metrics) >= METRIC_KEYS
    assert metrics["n_rows"] == 2500 and sorted(metrics["classes"]) == ["no", "yes"]
    assert metrics["base_rate"] > 0.8  # most leads never enrol: the figure accuracy must be read against
    assert metrics["roc_auc"] > 0.65 and metrics["lift_at_10pct"] > 1.5
    assert (folder / "models/v1/model.skops").is_file()

    listed = json.loads(nightcrew(folder, "leads", "models", "--json").stdout)
    assert [(m["kind"], m["version"], m["active"]) for m in listed] == [("lead", trained["version"], False)]

    def evaluate(csv: str) -> dict[str, Any]:
        done = nightcrew(
            folder, "leads", "evaluate", "--model-dir", "models/v1", "--csv", csv, "--target", "enrolled", "--json"
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    # A column missing from the later file is reported, not fatal; the model scores worse without it...
    partial = evaluate("later-without-source.csv")
    assert set(partial) >= METRIC_KEYS and partial["n_rows"] == 800
    assert [(i["kind"], i["column"]) for i in partial["schema_issues"]] == [("missing_column", "source")]
    # ...and the gate reads the held-out figures, so the playbook's min_auc (0.65) refuses it.
    refused = nightcrew(folder, "leads", "promote", str(trained["version"]))
    assert refused.returncode == 1 and "FAIL min_auc" in refused.stdout, refused.stdout

    complete = evaluate("later.csv")
    assert complete["schema_issues"] == [] and complete["roc_auc"] > partial["roc_auc"]
    promoted = nightcrew(folder, "leads", "promote", str(trained["version"]))
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "log_loss_beats_class_shares" in promoted.stdout and "is now the active lead model" in promoted.stdout
    listed = json.loads(nightcrew(folder, "leads", "models", "--json").stdout)
    assert [m["active"] for m in listed] == [True]


def test_a_file_without_the_target_is_a_clear_error(folder: Path) -> None:
    train(folder, "history.csv", "models/v2")
    done = nightcrew(
        folder, "leads", "evaluate", "--model-dir", "models/v2", "--csv", "unlabelled.csv", "--target", "enrolled"
    )
    assert done.returncode == 1
    assert "enrolled" in done.stderr and "Traceback" not in done.stderr


def test_a_leaking_column_is_flagged_and_the_model_is_refused(folder: Path) -> None:
    trained = train(folder, "leaky.csv", "models/leaky")
    leaks = [w for w in trained["metrics"]["warnings"] if w["code"] == "leakage"]
    assert any(w["column"] == "paid_amount" for w in leaks), trained["metrics"]["warnings"]
    refused = nightcrew(folder, "leads", "promote", str(trained["version"]))
    assert refused.returncode == 1
    assert "FAIL" in refused.stdout and "stays inactive" in refused.stderr
