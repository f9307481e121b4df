"""Warnings about the data itself: leakage, ID-like and constant columns, scarce or dominant classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nightcrew.intelligence.segments.features import Prepared, is_missing
from nightcrew.intelligence.segments.metrics import roc_auc
from nightcrew.intelligence.segments.schemas import DataSchema, MetricsWarning

LEAKAGE_AUC = 0.97
PURE_GROUP_MIN_ROWS = 30
PURE_GROUP_MIN_SHARE = 0.01
FEW_ROWS_PER_CLASS = 20
SMALL_DATASET = 200
#: A class rarer than this share of an even split (binary: 20%) makes accuracy a misleading headline.
IMBALANCE_SHARE = 0.4
_BINS = 20


def class_warnings(y: np.ndarray, classes: Sequence[str]) -> list[MetricsWarning]:
    """Warnings about class sizes: too few rows for a class, a dominant class, a small file."""
    out: list[MetricsWarning] = []
    counts = np.bincount(y, minlength=len(classes))
    n = int(y.size)
    if n < SMALL_DATASET:
        out.append(
            MetricsWarning(code="small_dataset", message=f"only {n} labelled rows: every figure has wide uncertainty")
        )
    for label, count in zip(classes, counts, strict=True):
        if count < FEW_ROWS_PER_CLASS:
            out.append(
                MetricsWarning(
                    code="few_rows",
                    message=f"class {label!r} has only {int(count)} rows (fewer than {FEW_ROWS_PER_CLASS}): "
                    "figures for it are unreliable",
                )
            )
    smallest = counts.min() / n
    if smallest < IMBALANCE_SHARE / len(classes):
        majority = classes[int(counts.argmax())]
        out.append(
            MetricsWarning(
                code="class_imbalance",
                message=f"{majority!r} is {counts.max() / n:.0%} of rows and the rarest class {smallest:.1%}: "
                "accuracy alone is misleading; read balanced accuracy, AUC and lift",
            )
        )
    return out


def data_warnings(
    frame: pd.DataFrame,
    schema: DataSchema,
    prepared: Prepared,
    y: np.ndarray,
    fold_ids: np.ndarray,
    *,
    rows_without_target: int,
) -> list[MetricsWarning]:
    """Every training-data warning: class sizes, excluded columns, and columns that leak the outcome."""
    out: list[MetricsWarning] = []
    if rows_without_target:
        out.append(
            MetricsWarning(
                code="rows_without_target",
                column=schema.target,
                message=f"{rows_without_target} row(s) have no {schema.target} value and were left out",
            )
        )
    out.extend(class_warnings(y, schema.classes))
    for name, reason in schema.excluded.items():
        if reason == "constant":
            out.append(MetricsWarning(code="constant", column=name, message=f"{name} has a single value; left out"))
        elif reason == "id_like":
            present = np.array([0 if is_missing(v) else 1 for v in frame[name].tolist()])
            leak = _leak_check(name, present, ["(missing)", "(filled in)"], {0, 1}, schema, y, fold_ids)
            note = f"; {leak.message}" if leak is not None else ""
            out.append(
                MetricsWarning(
                    code="id_like",
                    column=name,
                    message=f"{name} has a different value on every row (an ID, e-mail or phone?); "
                    f"left out of the model{note}",
                )
            )
    for spec in schema.columns:
        keys, labels, suspicious = _column_keys(spec.name, spec.kind, prepared)
        leak = _leak_check(spec.name, keys, labels, suspicious, schema, y, fold_ids)
        if leak is not None:
            out.append(leak)
    return out


def _column_keys(name: str, kind: str, prepared: Prepared) -> tuple[np.ndarray, list[str], set[int]]:
    """Group rows by the column's value (numbers by quantile band) so one column can be judged alone.

    Also returns the groups whose purity is suspicious: a category, or a number being absent. The
    top band of a strong numeric predictor is often pure without anything leaking.
    """
    if kind in ("categorical", "boolean"):
        codes, uniques = pd.factorize(pd.Series(prepared.categorical[name]), sort=False)
        return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques], set(range(len(uniques)))
    source = {"date": f"{name}__age_days", "text": f"{name}__chars"}.get(kind, name)
    values = prepared.numeric[source]
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, _BINS + 1)[1:-1])) if present.size else np.zeros(0)
    codes = np.where(np.isnan(values), edges.size + 1, np.searchsorted(edges, values, side="right"))
    bounds = [-np.inf, *edges.tolist(), np.inf]
    unit = {"date": " days old", "text": " characters"}.get(kind, "")
    labels = [f"{bounds[i]:g} to {bounds[i + 1]:g}{unit}" for i in range(edges.size + 1)] + ["(missing)"]
    return codes.astype(np.int64), labels, {edges.size + 1}


def _leak_check(
    name: str,
    keys: np.ndarray,
    labels: list[str],
    suspicious: set[int],
    schema: DataSchema,
    y: np.ndarray,
    fold_ids: np.ndarray,
) -> MetricsWarning | None:
    """Flag a column whose value alone gives the outcome: near-perfect cross-validated AUC, or a pure group."""
    n_classes = len(schema.classes)
    n_keys = int(keys.max()) + 1 if keys.size else 1
    prior = np.bincount(y, minlength=n_classes) / y.size
    oof = np.zeros((y.size, n_classes))
    for fold in np.unique(fold_ids):
        train = fold_ids != fold
        counts = np.bincount(keys[train] * n_classes + y[train], minlength=n_keys * n_classes)
        counts = counts.reshape(n_keys, n_classes).astype(float)
        # One pseudo-row at the prior: a value seen once says little, an unseen value says nothing.
        rates = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1.0)
        oof[~train] = rates[keys[~train]]
    auc = roc_auc(y, oof)
    if auc is not None and auc >= LEAKAGE_AUC:
        return MetricsWarning(
            code="leakage",
            column=name,
            message=f"{name} alone predicts {schema.target} almost perfectly (cross-validated AUC {auc:.3f}): "
            f"it is probably recorded after the outcome; drop it (--drop {name}) "
            "unless it is known when a lead arrives",
        )
    counts = np.bincount(keys * n_classes + y, minlength=n_keys * n_classes).reshape(n_keys, n_classes)
    sizes = counts.sum(axis=1)
    big = sizes >= max(PURE_GROUP_MIN_ROWS, PURE_GROUP_MIN_SHARE * y.size)
    for key in np.flatnonzero(big):
        if int(key) not in suspicious:
            continue
        dominant = int(counts[key].argmax())
        if counts[key, dominant] == sizes[key] and prior[dominant] < 0.5:
            label = labels[key] if key < len(labels) else str(key)
            return MetricsWarning(
                code="leakage",
                column=name,
                message=f"all {int(sizes[key])} rows with {name} = {label} have {schema.target} = "
                f"{schema.classes[dominant]!r} (overall {prior[dominant]:.0%}): likely recorded after the outcome",
            )
    return None
