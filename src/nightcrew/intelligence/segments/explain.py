"""One lead's prediction and why, in words an operator reads.

Each field's contribution is the change in probability when that field alone is replaced by its
typical training value (median or most frequent); all variants are scored in one batch with the lead
itself, so explaining costs about as much as predicting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nightcrew.intelligence.segments.encoding import tokens_of
from nightcrew.intelligence.segments.features import Prepared, is_missing
from nightcrew.intelligence.segments.model import SegmentModel
from nightcrew.intelligence.segments.schemas import MISSING, Contribution, SegmentPrediction

MIN_DELTA = 0.005
_MAX_SHOWN = 40


def predict_one(model: SegmentModel, record: Mapping[str, Any], *, top: int = 3) -> SegmentPrediction:
    """Classify one lead and name the fields that moved its probability most."""
    base = model.prepare_records([record])
    fields = model.field_names
    batch = _variants(model, base, len(fields))
    proba = model.predict_proba_prepared(batch)
    classes = model.schema.classes
    label_index = int(proba[0].argmax())
    label = classes[label_index]
    if model.schema.is_binary:
        target_index = classes.index(model.schema.positive_class) if model.schema.positive_class else 1
    else:
        target_index = label_index
    outcome = model.schema.outcome_words(classes[target_index])
    deltas = proba[0, target_index] - proba[1:, target_index]
    contributions: list[Contribution] = []
    for i in np.argsort(-np.abs(deltas), kind="stable")[: max(top, 0)]:
        delta = float(deltas[i])
        if abs(delta) < MIN_DELTA:
            break
        name = fields[i]
        value = _shown(record.get(name))
        verb = "raised" if delta > 0 else "lowered"
        contributions.append(
            Contribution(
                field=name,
                value=value,
                reference=_shown(model.reference_record[name]),
                delta=round(delta, 4),
                text=f"{name}={value} {verb} P({outcome}) by {abs(delta):.2f}",
            )
        )
    return SegmentPrediction(
        label=label,
        probability=float(proba[0, target_index]),
        confidence=float(proba[0, label_index]),
        positive_class=model.schema.positive_class,
        probabilities={c: float(p) for c, p in zip(classes, proba[0], strict=True)},
        contributions=contributions,
    )


def _variants(model: SegmentModel, base: Prepared, n_fields: int) -> Prepared:
    """Row 0 is the lead; row i+1 is the lead with field i set to its typical value."""
    position = {name: i + 1 for i, name in enumerate(model.field_names)}
    owner = model.layout.owner
    reference = model.reference
    n = n_fields + 1
    numeric: dict[str, np.ndarray] = {}
    for name, values in base.numeric.items():
        column = np.repeat(values, n)
        column[position[owner[name]]] = reference.numeric[name][0]
        numeric[name] = column
    categorical: dict[str, list[str]] = {}
    for name, labels in base.categorical.items():
        column_labels = labels * n
        column_labels[position[owner[name]]] = reference.categorical[name][0]
        categorical[name] = column_labels
    text: dict[str, list[str]] = {}
    tokens: dict[str, list[list[str]]] = {}
    for name, docs in base.text.items():
        column_docs = docs * n
        column_docs[position[owner[name]]] = reference.text[name][0]
        text[name] = column_docs
        column_tokens = tokens_of(base, name) * n
        column_tokens[position[owner[name]]] = tokens_of(reference, name)[0]
        tokens[name] = column_tokens
    return Prepared(n_rows=n, numeric=numeric, categorical=categorical, text=text, tokens=tokens)


def _shown(value: Any) -> str:
    if value is None or is_missing(value):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
