"""The promotion gate: a model goes live only if it beats the trivial one and meets the thresholds."""

from __future__ import annotations

import math

from nightcrew.intelligence.segments.schemas import GateCheck, GateDecision, SegmentMetrics

#: How far above chance (0.5) the AUC must be before a model counts as ranking leads at all.
MIN_AUC_MARGIN = 0.05
#: How much lower than the class-shares-only guess the log loss must be (1 = 1%).
MIN_LOG_LOSS_SKILL = 0.01


def check_promotion(
    metrics: SegmentMetrics,
    *,
    min_accuracy: float | None = None,
    min_auc: float | None = None,
    allow_leakage: bool = False,
    strict_accuracy: bool = True,
) -> GateDecision:
    """Every check a model must pass to become active, each with the figures behind it.

    With ``strict_accuracy`` (the default) accuracy must exceed the base rate. A calibrated model of a
    rare outcome (10% conversion) may rank leads well yet rarely give any lead P > 0.5, so its accuracy
    ties the base rate; ``strict_accuracy=False`` then only requires accuracy not to fall below the
    base rate by more than one standard error, and the log-loss and AUC checks decide whether the
    model knows more than the base rate.
    """
    standard_error = math.sqrt(metrics.base_rate * (1.0 - metrics.base_rate) / max(metrics.n_rows, 1))
    trivial = f"base rate {metrics.base_rate:.3f} (always predicting {metrics.majority_class!r})"
    if strict_accuracy:
        accuracy = GateCheck(
            name="accuracy_beats_base_rate",
            passed=metrics.accuracy > metrics.base_rate,
            detail=f"accuracy {metrics.accuracy:.3f} vs {trivial}",
        )
    else:
        accuracy = GateCheck(
            name="accuracy_not_below_base_rate",
            passed=metrics.accuracy >= metrics.base_rate - standard_error,
            detail=f"accuracy {metrics.accuracy:.3f} vs {trivial}, one standard error {standard_error:.3f}",
        )
    skill = 1.0 - metrics.log_loss / metrics.prior_log_loss if metrics.prior_log_loss > 0 else 0.0
    checks = [
        accuracy,
        GateCheck(
            name="log_loss_beats_class_shares",
            passed=skill >= MIN_LOG_LOSS_SKILL,
            detail=f"log loss {metrics.log_loss:.3f} vs {metrics.prior_log_loss:.3f} for predicting the class "
            f"shares ({skill:+.1%}; needs at least {MIN_LOG_LOSS_SKILL:+.0%})",
        ),
        GateCheck(
            name="auc_above_chance",
            passed=metrics.roc_auc is not None and metrics.roc_auc >= 0.5 + MIN_AUC_MARGIN,
            detail=(
                "AUC could not be computed (a class is missing from the data)"
                if metrics.roc_auc is None
                else f"AUC {metrics.roc_auc:.3f}; needs at least {0.5 + MIN_AUC_MARGIN:.2f} (0.50 = chance)"
            ),
        ),
    ]
    if min_accuracy is not None:
        checks.append(
            GateCheck(
                name="min_accuracy",
                passed=metrics.accuracy >= min_accuracy,
                detail=f"accuracy {metrics.accuracy:.3f}; required {min_accuracy:.3f}",
            )
        )
    if min_auc is not None:
        checks.append(
            GateCheck(
                name="min_auc",
                passed=metrics.roc_auc is not None and metrics.roc_auc >= min_auc,
                detail=f"AUC {'n/a' if metrics.roc_auc is None else f'{metrics.roc_auc:.3f}'}; required {min_auc:.3f}",
            )
        )
    leaks = [w for w in metrics.warnings if w.code == "leakage"]
    checks.append(
        GateCheck(
            name="no_suspected_leakage",
            passed=not leaks or allow_leakage,
            detail=(
                "no column predicts the outcome suspiciously well"
                if not leaks
                else ("allowed by the operator: " if allow_leakage else "suspected leakage in ")
                + ", ".join(sorted({w.column or "?" for w in leaks}))
            ),
        )
    )
    return GateDecision(allowed=all(check.passed for check in checks), checks=checks)
