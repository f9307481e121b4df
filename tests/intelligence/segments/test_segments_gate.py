"""The promotion gate as a pure function of the metrics."""

from __future__ import annotations

from typing import Any

from nightcrew.intelligence.segments import MetricsWarning, SegmentMetrics, check_promotion


def metrics(**overrides: Any) -> SegmentMetrics:
    """Metrics of a reasonable binary lead model, with ``overrides`` applied."""
    values: dict[str, Any] = {
        "source": "cross_validation",
        "n_rows": 5000,
        "classes": ["no", "yes"],
        "positive_class": "yes",
        "class_counts": {"no": 4400, "yes": 600},
        "base_rate": 0.88,
        "majority_class": "no",
        "positive_rate": 0.12,
        "accuracy": 0.89,
        "balanced_accuracy": 0.56,
        "macro_f1": 0.58,
        "roc_auc": 0.79,
        "log_loss": 0.31,
        "prior_log_loss": 0.367,
        "brier": 0.09,
        "lift_at_10pct": 3.2,
        "calibration": [],
        "calibration_of": "P(enrolled)",
        "chosen_model": "gradient_boosting",
    }
    values.update(overrides)
    return SegmentMetrics(**values)


def failed(decision: Any) -> list[str]:
    return [check.name for check in decision.failed]


def test_a_useful_model_is_allowed() -> None:
    decision = check_promotion(metrics(), min_accuracy=0.85, min_auc=0.75)
    assert decision.allowed
    assert [c.name for c in decision.checks] == [
        "accuracy_beats_base_rate",
        "log_loss_beats_class_shares",
        "auc_above_chance",
        "min_accuracy",
        "min_auc",
        "no_suspected_leakage",
    ]


def test_accuracy_that_only_ties_the_base_rate_is_refused() -> None:
    decision = check_promotion(metrics(accuracy=0.88))
    assert not decision.allowed
    assert failed(decision) == ["accuracy_beats_base_rate"]
    assert "accuracy 0.880 vs base rate 0.880 (always predicting 'no')" in decision.failed[0].detail
    # Lenient mode: a tie (within one standard error) is accepted when log loss and AUC show skill.
    assert check_promotion(metrics(accuracy=0.877), strict_accuracy=False).allowed
    assert not check_promotion(metrics(accuracy=0.86), strict_accuracy=False).allowed


def test_no_skill_beyond_class_shares_or_chance_ranking_is_refused() -> None:
    decision = check_promotion(metrics(log_loss=0.366, roc_auc=0.53))
    assert failed(decision) == ["log_loss_beats_class_shares", "auc_above_chance"]
    assert not check_promotion(metrics(roc_auc=None)).allowed


def test_thresholds_say_which_one_failed() -> None:
    decision = check_promotion(metrics(), min_accuracy=0.95, min_auc=0.8)
    assert failed(decision) == ["min_accuracy", "min_auc"]
    assert decision.failed[1].detail == "AUC 0.790; required 0.800"


def test_suspected_leakage_blocks_unless_allowed() -> None:
    leaky = metrics(warnings=[MetricsWarning(code="leakage", column="paid_amount", message="...")])
    decision = check_promotion(leaky)
    assert failed(decision) == ["no_suspected_leakage"]
    assert "paid_amount" in decision.failed[0].detail
    assert check_promotion(leaky, allow_leakage=True).allowed


def test_multiclass_uses_macro_auc_and_majority_share() -> None:
    three = metrics(
        classes=["a", "b", "c"],
        positive_class=None,
        class_counts={"a": 2000, "b": 2000, "c": 1000},
        base_rate=0.4,
        majority_class="a",
        accuracy=0.62,
        prior_log_loss=1.05,
        log_loss=0.8,
        brier=None,
        lift_at_10pct=None,
        positive_rate=None,
    )
    assert check_promotion(three).allowed
    assert failed(check_promotion(three.model_copy(update={"accuracy": 0.39}))) == ["accuracy_beats_base_rate"]
