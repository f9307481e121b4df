"""The trained segment model: schema, encoders, scorer and calibrator, usable without scikit-learn's pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nightcrew.intelligence.segments.encoding import FeatureEncoder, tokens_of
from nightcrew.intelligence.segments.features import (
    IssueLog,
    Layout,
    Prepared,
    frame_columns,
    layout_for,
    prepare,
    records_columns,
)
from nightcrew.intelligence.segments.schemas import CandidateName, DataSchema, SegmentMetrics
from nightcrew.intelligence.segments.scorers import Calibrator, Scorer, TreeScorer, scorer_from_state


class SegmentModel:
    """A calibrated classifier over the columns of one CRM export."""

    def __init__(
        self,
        *,
        schema: DataSchema,
        encoder: FeatureEncoder,
        scorer: Scorer,
        calibrator: Calibrator,
        chosen_model: CandidateName,
        training_data_hash: str,
        metrics: SegmentMetrics | None = None,
    ) -> None:
        self.schema = schema
        self.encoder = encoder
        self.scorer = scorer
        self.calibrator = calibrator
        self.chosen_model = chosen_model
        self.training_data_hash = training_data_hash
        self.metrics = metrics
        self.layout: Layout = layout_for(schema)
        self.field_names = [spec.name for spec in schema.columns]
        # Each field's typical training value (median or most frequent), derived once for explanations.
        self.reference_record: dict[str, Any] = {spec.name: spec.reference for spec in schema.columns}
        self.reference = self.prepare_records([self.reference_record])
        for name in self.reference.text:  # tokenised now, so concurrent predictions only read it
            tokens_of(self.reference, name)

    @property
    def classes(self) -> list[str]:
        """Class labels, in the column order of every probability array."""
        return list(self.schema.classes)

    def predict_proba_prepared(self, prepared: Prepared) -> np.ndarray:
        """Calibrated probabilities for already-derived rows."""
        if isinstance(self.scorer, TreeScorer):
            raw = self.scorer.predict_proba(self.encoder.tree_matrix(prepared))
        else:
            raw = self.scorer.predict_proba(self.encoder.linear_matrix(prepared))
        return self.calibrator.apply(raw)

    def prepare_frame(self, frame: pd.DataFrame, log: IssueLog | None = None) -> Prepared:
        """Derive model inputs from a frame (absent columns count as missing)."""
        return prepare(self.schema, frame_columns(frame, self.field_names), len(frame), log)

    def prepare_records(self, records: Sequence[Mapping[str, Any]]) -> Prepared:
        """Derive model inputs from dict records."""
        return prepare(self.schema, records_columns(records, self.field_names), len(records))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated class probabilities for every row of ``frame``."""
        return self.predict_proba_prepared(self.prepare_frame(frame))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated class probabilities for dict records."""
        return self.predict_proba_prepared(self.prepare_records(records))

    def predict_labels(self, frame: pd.DataFrame) -> list[str]:
        """The most probable class of every row."""
        proba = self.predict_proba(frame)
        return [self.schema.classes[i] for i in proba.argmax(axis=1)]

    def to_state(self) -> dict[str, Any]:
        """Plain data (no custom classes) for the skops artifact."""
        return {
            "format": "nightcrew.segment_model/1",
            "schema": self.schema.model_dump_json(),
            "metrics": self.metrics.model_dump_json() if self.metrics is not None else None,
            "encoder": self.encoder.to_state(),
            "scorer": self.scorer.to_state(),
            "calibrator": self.calibrator.to_state(),
            "chosen_model": self.chosen_model,
            "training_data_hash": self.training_data_hash,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SegmentModel:
        """Rebuild from :meth:`to_state` output."""
        if state.get("format") != "nightcrew.segment_model/1":
            raise ValueError(f"unsupported model format {state.get('format')!r}")
        metrics_json = state.get("metrics")
        chosen = str(state["chosen_model"])
        if chosen not in ("gradient_boosting", "logistic_regression"):
            raise ValueError(f"unknown model kind {chosen!r}")
        scorer = scorer_from_state(dict(state["scorer"]))
        expected = "trees" if chosen == "gradient_boosting" else "linear"
        if scorer.kind != expected:
            raise ValueError(f"{chosen} model stored with a {scorer.kind} scorer")
        return cls(
            schema=DataSchema.model_validate_json(state["schema"]),
            encoder=FeatureEncoder.from_state(dict(state["encoder"])),
            scorer=scorer,
            calibrator=Calibrator(state["calibrator"]["coef"], state["calibrator"]["intercept"]),
            chosen_model="gradient_boosting" if chosen == "gradient_boosting" else "logistic_regression",
            training_data_hash=str(state["training_data_hash"]),
            metrics=SegmentMetrics.model_validate_json(metrics_json) if metrics_json else None,
        )
