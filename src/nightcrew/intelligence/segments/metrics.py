"""Honest metrics: every figure next to what always predicting the majority class would score."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.table import Table
from sklearn.metrics import f1_score, roc_auc_score

from nightcrew.intelligence.segments.schemas import (
    CalibrationBin,
    CandidateName,
    CandidateScore,
    DataSchema,
    MetricsSource,
    MetricsWarning,
    SchemaIssue,
    SegmentMetrics,
)

_CLIP = 1e-15
_CALIBRATION_BINS = 10


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log probability given to the true class."""
    p = np.clip(proba[np.arange(y.size), y], _CLIP, 1.0)
    return float(-np.mean(np.log(p)))


def prior_log_loss(y: np.ndarray, n_classes: int) -> float:
    """Log loss of always predicting the class shares of ``y`` (the best constant guess)."""
    shares = np.bincount(y, minlength=n_classes) / y.size
    shares = shares[shares > 0]
    return float(-np.sum(shares * np.log(shares)))


def roc_auc(y: np.ndarray, proba: np.ndarray) -> float | None:
    """Binary AUC of column 1, or the macro one-vs-rest AUC; None if a class needed for it is absent."""
    n_classes = proba.shape[1]
    if n_classes == 2:
        if np.unique(y).size < 2:
            return None
        return float(roc_auc_score(y == 1, proba[:, 1]))
    scores = [float(roc_auc_score(y == k, proba[:, k])) for k in range(n_classes) if 0 < np.sum(y == k) < y.size]
    return float(np.mean(scores)) if scores else None


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (0.5 for a trivial binary model)."""
    recalls = [float(np.mean(predicted[y == k] == k)) for k in np.unique(y)]
    return float(np.mean(recalls))


def calibration_table(confidence: np.ndarray, hit: np.ndarray) -> list[CalibrationBin]:
    """Equal-width probability bands: mean predicted probability against the observed rate."""
    edges = np.linspace(0.0, 1.0, _CALIBRATION_BINS + 1)
    band = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, _CALIBRATION_BINS - 1)
    out: list[CalibrationBin] = []
    for b in range(_CALIBRATION_BINS):
        members = band == b
        count = int(members.sum())
        if count == 0:
            continue
        out.append(
            CalibrationBin(
                lower=round(float(edges[b]), 2),
                upper=round(float(edges[b + 1]), 2),
                predicted_mean=round(float(confidence[members].mean()), 4),
                observed_rate=round(float(hit[members].mean()), 4),
                count=count,
            )
        )
    return out


def lift_at(y_positive: np.ndarray, score: np.ndarray, share: float = 0.1) -> float | None:
    """Positive rate among the top ``share`` of rows by score, over the overall positive rate."""
    overall = float(y_positive.mean())
    if overall == 0.0:
        return None
    k = max(1, math.ceil(share * y_positive.size))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y_positive[top].mean() / overall)


def candidate_score(
    name: CandidateName, y: np.ndarray, proba: np.ndarray, fold_ids: np.ndarray, fit_seconds: float
) -> CandidateScore:
    """Cross-validation summary of one candidate's calibrated out-of-fold probabilities."""
    predicted = proba.argmax(axis=1)
    folds = [log_loss(y[fold_ids == f], proba[fold_ids == f]) for f in np.unique(fold_ids)]
    auc = roc_auc(y, proba)
    return CandidateScore(
        name=name,
        log_loss=_r(log_loss(y, proba)),
        roc_auc=None if auc is None else _r(auc),
        accuracy=_r(float(np.mean(predicted == y))),
        balanced_accuracy=_r(balanced_accuracy(y, predicted)),
        fold_log_loss=[_r(v) for v in folds],
        fit_seconds=round(fit_seconds, 3),
    )


def compute_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    schema: DataSchema,
    *,
    source: MetricsSource,
    chosen_model: CandidateName,
    candidates: Sequence[CandidateScore] = (),
    n_folds: int | None = None,
    warnings: Sequence[MetricsWarning] = (),
    schema_issues: Sequence[SchemaIssue] = (),
) -> SegmentMetrics:
    """All metrics for true class indices ``y`` and calibrated probabilities ``proba``."""
    classes = list(schema.classes)
    n_classes = len(classes)
    counts = np.bincount(y, minlength=n_classes)
    majority = int(counts.argmax())
    predicted = proba.argmax(axis=1)
    binary = n_classes == 2
    auc = roc_auc(y, proba)
    present = sorted(set(np.unique(y).tolist()) | set(np.unique(predicted).tolist()))
    macro_f1 = f1_score(y, predicted, labels=present, average="macro", zero_division=0)
    if binary:
        positive = classes.index(schema.positive_class) if schema.positive_class in classes else 1
        y_positive = (y == positive).astype(float)
        score = proba[:, positive]
        calibration = calibration_table(score, y_positive)
        calibration_of = f"P({schema.outcome_words()})"
        brier: float | None = _r(float(np.mean((score - y_positive) ** 2)))
        lift = lift_at(y_positive, score)
        positive_rate: float | None = _r(float(y_positive.mean()))
    else:
        confidence = proba.max(axis=1)
        calibration = calibration_table(confidence, (predicted == y).astype(float))
        calibration_of = "confidence: P(predicted class)"
        brier, lift, positive_rate = None, None, None
    return SegmentMetrics(
        source=source,
        n_rows=int(y.size),
        classes=classes,
        positive_class=schema.positive_class,
        class_counts={c: int(k) for c, k in zip(classes, counts, strict=True)},
        base_rate=_r(float(counts[majority] / y.size)),
        majority_class=classes[majority],
        positive_rate=positive_rate,
        accuracy=_r(float(np.mean(predicted == y))),
        balanced_accuracy=_r(balanced_accuracy(y, predicted)),
        macro_f1=_r(float(macro_f1)),
        roc_auc=None if auc is None else _r(auc),
        log_loss=_r(log_loss(y, proba)),
        prior_log_loss=_r(prior_log_loss(y, n_classes)),
        brier=brier,
        lift_at_10pct=None if lift is None else _r(lift),
        calibration=calibration,
        calibration_of=calibration_of,
        candidates=list(candidates),
        chosen_model=chosen_model,
        n_folds=n_folds,
        warnings=list(warnings),
        schema_issues=list(schema_issues),
    )


def _r(value: float) -> float:
    return round(value, 4)


# -------------------------------------------------------------------------------------- rendering


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_metrics_table(metrics: SegmentMetrics, title: str | None = None) -> Table:
    """The metrics as a Rich table: figure, value, and what it should be compared with."""
    where = "cross-validated (out-of-fold)" if metrics.source == "cross_validation" else "held-out file"
    table = Table(title=title or f"Lead model: {metrics.chosen_model} — {where}, {metrics.n_rows} rows")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("compare with")
    counts = ", ".join(f"{c}: {k}" for c, k in metrics.class_counts.items())
    table.add_row("classes", str(len(metrics.classes)), counts)
    table.add_row("base_rate", _fmt(metrics.base_rate), f"always predicting {metrics.majority_class!r}")
    beat = metrics.accuracy - metrics.base_rate
    table.add_row("accuracy", _fmt(metrics.accuracy), f"{beat:+.3f} vs base rate")
    table.add_row("balanced_accuracy", _fmt(metrics.balanced_accuracy), f"{1 / len(metrics.classes):.3f} = chance")
    table.add_row("macro_f1", _fmt(metrics.macro_f1), "")
    table.add_row("roc_auc", _fmt(metrics.roc_auc), "0.500 = chance" + ("" if len(metrics.classes) == 2 else " (OvR)"))
    table.add_row("log_loss", _fmt(metrics.log_loss), f"{metrics.prior_log_loss:.3f} = class shares only")
    if metrics.brier is not None:
        table.add_row("brier", _fmt(metrics.brier), "")
    if metrics.lift_at_10pct is not None:
        table.add_row(
            "lift_at_10pct", _fmt(metrics.lift_at_10pct, 2), f"1.00 = random; positive rate {metrics.positive_rate}"
        )
    for candidate in metrics.candidates:
        chosen = " (chosen)" if candidate.name == metrics.chosen_model else ""
        table.add_row(
            f"cv {candidate.name}{chosen}",
            _fmt(candidate.log_loss),
            f"log loss; AUC {_fmt(candidate.roc_auc)}, accuracy {_fmt(candidate.accuracy)}",
        )
    for warning in metrics.warnings:
        table.add_row(f"[yellow]warning: {warning.code}[/yellow]", warning.column or "", warning.message)
    for issue in metrics.schema_issues:
        table.add_row(f"[yellow]schema: {issue.kind}[/yellow]", issue.column or "", issue.detail)
    return table


def render_calibration_table(metrics: SegmentMetrics) -> Table:
    """The calibration bands as a Rich table."""
    table = Table(title=f"Calibration of {metrics.calibration_of}")
    table.add_column("band")
    table.add_column("predicted", justify="right")
    table.add_column("observed", justify="right")
    table.add_column("rows", justify="right")
    for b in metrics.calibration:
        table.add_row(f"{b.lower:.1f}–{b.upper:.1f}", f"{b.predicted_mean:.3f}", f"{b.observed_rate:.3f}", str(b.count))
    return table
