"""Training: two candidates compared by stratified cross-validation, the better one refit and calibrated.

Candidates are a HistGradientBoostingClassifier and an L2-regularised LogisticRegression. Each fold
fits the encoders on its own training rows, so nothing about the held-out fold leaks into it. The
out-of-fold probabilities are calibrated by cross-fitting (the calibrator for fold k is fitted on the
other folds), which makes them honest estimates of what the shipped, calibrated model will do. The
winner has the lowest log loss on those probabilities; it is refit on all rows and its calibrator is
fitted on all of its out-of-fold probabilities (what CalibratedClassifierCV(ensemble=False) does,
without fitting every fold a second time, and with a calibration slope that cannot turn negative).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments.artifact import dataset_sha256
from nightcrew.intelligence.segments.diagnostics import data_warnings
from nightcrew.intelligence.segments.encoding import FeatureEncoder
from nightcrew.intelligence.segments.features import Prepared, frame_columns, infer_schema, prepare
from nightcrew.intelligence.segments.metrics import candidate_score, compute_metrics
from nightcrew.intelligence.segments.model import SegmentModel
from nightcrew.intelligence.segments.schemas import CandidateName, DataSchema, SegmentMetrics
from nightcrew.intelligence.segments.scorers import Calibrator, LinearScorer, Scorer, TreeScorer

ProgressCallback = Callable[[int, int, str], None]
CANDIDATES: tuple[CandidateName, ...] = ("gradient_boosting", "logistic_regression")
_LARGE = 20_000
_CHECK_ROWS = 512


@dataclass(frozen=True)
class TrainingResult:
    """A trained model with its cross-validated metrics, schema and training-data hash."""

    model: SegmentModel
    metrics: SegmentMetrics
    schema: DataSchema
    training_data_hash: str


def train_segment_model(
    frame: pd.DataFrame,
    target: str,
    *,
    drop: Sequence[str] = (),
    id_column: str | None = None,
    reference_time: datetime,
    progress: ProgressCallback | None = None,
    random_state: int = 0,
    positive_class: str | None = None,
    n_splits: int | None = None,
    max_threads: int | None = 1,
    candidates: Sequence[CandidateName] = CANDIDATES,
) -> TrainingResult:
    """Train a calibrated segment model on a CRM export and measure it honestly.

    ``max_threads`` caps OpenMP/BLAS threads (None: library defaults). One thread is the default
    because on a busy 2-core host, spinning OpenMP and BLAS pools made fitting up to 15x slower.
    ``candidates`` restricts the comparison (e.g. to one model family); the default compares both.
    """
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown or not candidates:
        raise ValidationFailed(f"candidates must be a non-empty subset of {list(CANDIDATES)}; got {list(candidates)}")
    with threadpool_limits(limits=max_threads):
        return _train(
            frame,
            target,
            drop=drop,
            id_column=id_column,
            reference_time=reference_time,
            progress=progress,
            random_state=random_state,
            positive_class=positive_class,
            n_splits=n_splits,
            candidates=tuple(dict.fromkeys(candidates)),
        )


def _train(
    frame: pd.DataFrame,
    target: str,
    *,
    drop: Sequence[str],
    id_column: str | None,
    reference_time: datetime,
    progress: ProgressCallback | None,
    random_state: int,
    positive_class: str | None,
    n_splits: int | None,
    candidates: tuple[CandidateName, ...],
) -> TrainingResult:
    inferred = infer_schema(
        frame, target, drop=drop, id_column=id_column, reference_time=reference_time, positive_class=positive_class
    )
    schema = inferred.schema
    if not schema.columns:
        raise ValidationFailed(
            "no usable input columns: every column was dropped, constant or ID-like",
            details={"excluded": schema.excluded},
        )
    labelled = np.array([label is not None for label in inferred.labels], dtype=bool)
    rows = frame.iloc[np.flatnonzero(labelled)].reset_index(drop=True)
    class_index = {label: i for i, label in enumerate(schema.classes)}
    y = np.array([class_index[label] for label in inferred.labels if label is not None], dtype=np.int64)
    folds = _fold_ids(y, n_splits, random_state)
    k = int(folds.max()) + 1
    total = 3 + k * len(candidates)
    report = progress or (lambda done, total, label: None)

    report(0, total, f"reading {len(rows)} rows")
    prepared = prepare(schema, frame_columns(rows, [s.name for s in schema.columns]), len(rows))
    report(1, total, "checking columns")
    warnings_found = data_warnings(rows, schema, prepared, y, folds, rows_without_target=int((~labelled).sum()))

    n_classes = len(schema.classes)
    raw_oof = {name: np.zeros((y.size, n_classes)) for name in candidates}
    seconds = dict.fromkeys(candidates, 0.0)
    done = 2
    for fold in range(k):
        train, test = folds != fold, folds == fold
        fold_train, fold_test = prepared.take(train), prepared.take(test)
        encoder = FeatureEncoder.fit(fold_train, random_state=random_state)
        for name in candidates:
            report(done, total, f"fold {fold + 1}/{k}: {name.replace('_', ' ')}")
            started = time.perf_counter()
            estimator = _fit(name, encoder, fold_train, y[train], random_state)
            raw_oof[name][test] = _predict(name, estimator, encoder, fold_test, n_classes)
            seconds[name] += time.perf_counter() - started
            done += 1

    calibrated = {name: _cross_fit_calibration(raw_oof[name], y, folds) for name in candidates}
    scores = [candidate_score(name, y, calibrated[name], folds, seconds[name] / k) for name in candidates]
    chosen = min(scores, key=lambda score: score.log_loss).name

    report(done, total, f"final fit: {chosen.replace('_', ' ')} on all {y.size} rows")
    encoder = FeatureEncoder.fit(prepared, random_state=random_state)
    # Explanations compare a lead's message with a typical one, not with no message at all.
    columns = [
        spec.model_copy(update={"reference": encoder.typical_document(prepared, spec.name)})
        if spec.kind == "text"
        else spec
        for spec in schema.columns
    ]
    schema = schema.model_copy(update={"columns": columns})
    estimator = _fit(chosen, encoder, prepared, y, random_state)
    scorer = _compile(chosen, estimator, encoder, prepared.take(np.arange(min(_CHECK_ROWS, y.size))))
    calibrator = Calibrator.fit(raw_oof[chosen], y)
    metrics = compute_metrics(
        y,
        calibrated[chosen],
        schema,
        source="cross_validation",
        chosen_model=chosen,
        candidates=scores,
        n_folds=k,
        warnings=warnings_found,
    )
    data_hash = dataset_sha256(frame)
    model = SegmentModel(
        schema=schema,
        encoder=encoder,
        scorer=scorer,
        calibrator=calibrator,
        chosen_model=chosen,
        training_data_hash=data_hash,
        metrics=metrics,
    )
    report(total, total, "done")
    return TrainingResult(model=model, metrics=metrics, schema=schema, training_data_hash=data_hash)


def _fold_ids(y: np.ndarray, n_splits: int | None, random_state: int) -> np.ndarray:
    smallest = int(np.bincount(y).min())
    k = min(n_splits or (5 if y.size < _LARGE else 3), smallest)
    if k < 2:
        raise ValidationFailed("every class needs at least 2 rows to cross-validate")
    folds = np.empty(y.size, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    for fold, (_, test) in enumerate(splitter.split(np.zeros((y.size, 1)), y)):
        folds[test] = fold
    return folds


def make_gradient_boosting(n_rows: int, categorical: np.ndarray, random_state: int) -> HistGradientBoostingClassifier:
    """The gradient-boosting candidate: shallow trees, early stopping on a validation split when rows allow."""
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=300,
        max_leaf_nodes=15,
        max_depth=5,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=categorical if categorical.any() else None,
        early_stopping=n_rows >= 400,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=random_state,
    )


def make_logistic_regression(random_state: int) -> LogisticRegression:
    """The linear candidate: L2-regularised logistic regression on scaled, one-hot and TF-IDF features."""
    return LogisticRegression(C=1.0, max_iter=3000, random_state=random_state)


def _fit(
    name: CandidateName, encoder: FeatureEncoder, prepared: Prepared, y: np.ndarray, random_state: int
) -> HistGradientBoostingClassifier | LogisticRegression:
    if name == "gradient_boosting":
        model = make_gradient_boosting(prepared.n_rows, encoder.tree_categorical_mask, random_state)
        return model.fit(encoder.tree_matrix(prepared), y)
    linear = make_logistic_regression(random_state)
    with warnings.catch_warnings():
        # A fold that stops a little short of full convergence is still scored honestly on held-out rows.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return linear.fit(encoder.linear_matrix(prepared), y)


def _predict(
    name: CandidateName,
    estimator: HistGradientBoostingClassifier | LogisticRegression,
    encoder: FeatureEncoder,
    prepared: Prepared,
    n_classes: int,
) -> np.ndarray:
    matrix = encoder.tree_matrix(prepared) if name == "gradient_boosting" else encoder.linear_matrix(prepared)
    proba = estimator.predict_proba(matrix)
    # A class absent from a fold's training rows gets probability zero in that fold.
    out = np.zeros((prepared.n_rows, n_classes))
    out[:, estimator.classes_] = proba
    return out


def _compile(
    name: CandidateName,
    estimator: HistGradientBoostingClassifier | LogisticRegression,
    encoder: FeatureEncoder,
    check: Prepared,
) -> Scorer:
    if name == "gradient_boosting":
        return TreeScorer.from_estimator(estimator, encoder.tree_matrix(check))
    return LinearScorer.from_estimator(estimator, encoder.linear_matrix(check))


def _cross_fit_calibration(raw: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    out = np.empty_like(raw)
    for fold in np.unique(folds):
        held_out = folds == fold
        calibrator = Calibrator.fit(raw[~held_out], y[~held_out])
        out[held_out] = calibrator.apply(raw[held_out])
    return out
