"""Training: candidates, honest metrics, warnings (leakage, imbalance) and the promotion gate on real runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments import TrainingResult, check_promotion, predict_one, train_segment_model
from nightcrew.simulate.history import generate_history

REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)


def test_demo_metrics_are_honest(demo_result: TrainingResult, demo_history: pd.DataFrame) -> None:
    metrics = demo_result.metrics
    outcomes = demo_history["enrolled"].iloc[:2400]
    assert metrics.source == "cross_validation" and metrics.n_folds == 3
    assert metrics.n_rows == 2400
    assert metrics.classes == ["no", "yes"] and metrics.positive_class == "yes"
    assert metrics.class_counts == {"no": int((outcomes == "no").sum()), "yes": int((outcomes == "yes").sum())}
    assert metrics.base_rate == pytest.approx((outcomes == "no").mean(), abs=1e-4)
    assert metrics.positive_rate == pytest.approx((outcomes == "yes").mean(), abs=1e-4)
    # The demo history carries real signal: the model must rank and calibrate better than the base rate.
    assert metrics.roc_auc is not None and metrics.roc_auc > 0.7
    assert metrics.log_loss < metrics.prior_log_loss
    assert metrics.lift_at_10pct is not None and metrics.lift_at_10pct > 2.0
    assert metrics.brier is not None and 0.0 < metrics.brier < 0.2
    assert sum(b.count for b in metrics.calibration) == metrics.n_rows
    assert {c.name for c in metrics.candidates} == {"gradient_boosting", "logistic_regression"}
    best = min(metrics.candidates, key=lambda c: c.log_loss)
    assert metrics.chosen_model == best.name == demo_result.model.chosen_model
    assert any(w.code == "class_imbalance" for w in metrics.warnings)
    assert not any(w.code == "leakage" for w in metrics.warnings)
    as_json = json.loads(json.dumps(metrics.model_dump(mode="json")))
    assert {"n_rows", "classes", "base_rate", "accuracy", "balanced_accuracy", "macro_f1", "roc_auc"} <= set(as_json)
    assert {"log_loss", "brier", "lift_at_10pct", "calibration", "candidates", "warnings"} <= set(as_json)


def test_demo_schema_and_hash(demo_result: TrainingResult) -> None:
    kinds = {spec.name: spec.kind for spec in demo_result.schema.columns}
    assert kinds["first_message"] == "text"
    assert kinds["created_at"] == "date"
    assert kinds["asked_price"] == "boolean"
    assert kinds["response_minutes"] == "numeric"
    assert kinds["source"] == "categorical"
    assert demo_result.schema.excluded == {"lead_id": "id_column"}
    assert len(demo_result.training_data_hash) == 64


def test_progress_is_reported_to_the_end_and_candidates_can_be_restricted() -> None:
    calls: list[tuple[int, int, str]] = []
    frame = generate_history(400, 2, REFERENCE)
    result = train_segment_model(
        frame,
        "enrolled",
        id_column="lead_id",
        reference_time=REFERENCE,
        n_splits=2,
        candidates=["gradient_boosting"],
        progress=lambda *a: calls.append(a),
    )
    done = [c[0] for c in calls]
    assert done == sorted(done)
    assert calls[-1][0] == calls[-1][1] == calls[0][1] == 3 + 2
    assert any("fold 2/2" in c[2] for c in calls) and any("final fit" in c[2] for c in calls)
    assert [c.name for c in result.metrics.candidates] == ["gradient_boosting"]
    assert result.model.chosen_model == "gradient_boosting"
    with pytest.raises(ValidationFailed, match="candidates"):
        train_segment_model(frame, "enrolled", reference_time=REFERENCE, candidates=["random_forest"])  # type: ignore[list-item]


def test_multiclass_segments() -> None:
    rng = np.random.default_rng(4)
    n = 900
    spend = rng.gamma(2.0, 50.0, n).round(2)
    visits = rng.poisson(4, n)
    channel = rng.choice(["store", "web", "phone"], size=n)
    score = spend / 50 + visits / 3 + np.where(channel == "web", 1.0, 0.0) + rng.normal(0, 0.7, n)
    segment = np.select([score > 4.5, score > 2.8], ["vip", "regular"], "occasional")
    frame = pd.DataFrame({"spend": spend, "visits": visits, "channel": channel, "segment": segment})
    result = train_segment_model(frame, "segment", reference_time=REFERENCE, n_splits=3)
    metrics = result.metrics
    assert metrics.classes == ["occasional", "regular", "vip"]
    assert metrics.positive_class is None and metrics.brier is None and metrics.lift_at_10pct is None
    assert metrics.roc_auc is not None and metrics.roc_auc > 0.8
    assert metrics.accuracy > metrics.base_rate
    assert metrics.calibration_of.startswith("confidence")
    assert check_promotion(metrics).allowed
    prediction = predict_one(result.model, {"spend": 400.0, "visits": 9, "channel": "web"})
    assert prediction.label == "vip"
    assert prediction.positive_class is None
    assert prediction.probability == prediction.confidence == max(prediction.probabilities.values())
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_binary_labels_measure_the_rarer_outcome() -> None:
    rng = np.random.default_rng(12)
    n = 800
    tenure = rng.integers(1, 60, n)
    churned = rng.random(n) < np.where(tenure < 12, 0.5, 0.1)
    frame = pd.DataFrame({"tenure_months": tenure, "status": np.where(churned, "churned", "stayed")})
    metrics = train_segment_model(frame, "status", reference_time=REFERENCE, n_splits=3).metrics
    assert metrics.classes == ["churned", "stayed"] and metrics.positive_class == "churned"
    assert metrics.positive_rate == pytest.approx(churned.mean(), abs=1e-4)
    assert metrics.calibration_of == "P(status=churned)"
    assert metrics.lift_at_10pct is not None and metrics.lift_at_10pct > 1.5


def test_leaking_columns_are_flagged_and_block_promotion() -> None:
    frame = generate_history(1500, 8, REFERENCE, include_leaky=True)
    result = train_segment_model(frame, "enrolled", id_column="lead_id", reference_time=REFERENCE, n_splits=3)
    by_column = {(w.code, w.column): w.message for w in result.metrics.warnings}
    assert ("leakage", "paid_amount") in by_column
    assert (
        "almost perfectly" in by_column[("leakage", "paid_amount")] or "all " in by_column[("leakage", "paid_amount")]
    )
    # The invoice id is unique per row, so it is left out, and its mere presence gives the outcome away.
    assert "predicts" in by_column[("id_like", "enrolment_invoice_id")]
    decision = check_promotion(result.metrics)
    assert not decision.allowed
    assert [c.name for c in decision.failed] == ["no_suspected_leakage"]
    assert check_promotion(result.metrics, allow_leakage=True).allowed
    clean = train_segment_model(
        frame, "enrolled", id_column="lead_id", drop=["paid_amount"], reference_time=REFERENCE, n_splits=3
    )
    assert not any(w.code == "leakage" for w in clean.metrics.warnings)


def test_noise_on_an_imbalanced_target_is_refused() -> None:
    rng = np.random.default_rng(9)
    n = 1500
    frame = pd.DataFrame(
        {
            "source": rng.choice(["ads", "referral", "web", "fair"], size=n),
            "age": rng.integers(5, 16, n),
            "minutes": rng.exponential(30, n).round(1),
            "enrolled": np.where(rng.random(n) < 0.08, "yes", "no"),
        }
    )
    result = train_segment_model(frame, "enrolled", reference_time=REFERENCE, n_splits=3)
    metrics = result.metrics
    assert metrics.base_rate > 0.9
    assert metrics.accuracy >= 0.9  # the headline number looks great ...
    decision = check_promotion(metrics)
    assert not decision.allowed  # ... and the gate still refuses
    failed = {c.name for c in decision.failed}
    assert {"accuracy_beats_base_rate", "log_loss_beats_class_shares", "auc_above_chance"} <= failed
    assert not check_promotion(metrics, strict_accuracy=False).allowed
    assert any(w.code == "class_imbalance" for w in metrics.warnings)


def test_unusable_inputs_are_clear_errors() -> None:
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(50)], "won": ["yes", "no"] * 25})
    with pytest.raises(ValidationFailed, match="no usable input columns"):
        train_segment_model(frame, "won", reference_time=REFERENCE)
    with pytest.raises(ValidationFailed, match="at least 30"):
        train_segment_model(frame.iloc[:20].assign(x=range(20)), "won", reference_time=REFERENCE)
