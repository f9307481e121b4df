"""Scoring a labelled file the model has never seen, reporting (not crashing on) schema differences."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments.diagnostics import class_warnings
from nightcrew.intelligence.segments.features import IssueLog, labels_for_schema, resolve_column
from nightcrew.intelligence.segments.metrics import compute_metrics
from nightcrew.intelligence.segments.model import SegmentModel
from nightcrew.intelligence.segments.schemas import MetricsWarning, SchemaIssue, SegmentMetrics


def evaluate_segment_model(model: SegmentModel, frame: pd.DataFrame, target: str) -> SegmentMetrics:
    """The same metrics as training, for a held-out labelled frame."""
    schema = model.schema
    target = resolve_column(frame, target, "target")
    issues: list[SchemaIssue] = []
    known = {spec.name for spec in schema.columns} | set(schema.excluded) | {schema.target, target}
    for spec in schema.columns:
        if spec.name not in frame.columns:
            issues.append(
                SchemaIssue(
                    kind="missing_column",
                    column=spec.name,
                    count=len(frame),
                    detail=f"{spec.name} is not in the file; every row is scored as if it were empty",
                )
            )
    unused = [str(c) for c in frame.columns if str(c) not in known]
    if unused:
        issues.append(
            SchemaIssue(
                kind="unused_columns",
                count=len(unused),
                examples=unused[:5],
                detail=f"{len(unused)} column(s) the model was not trained on were ignored",
            )
        )

    labels = labels_for_schema(schema, frame[target].tolist())
    class_index = {c: i for i, c in enumerate(schema.classes)}
    unknown = Counter(label for label in labels if label is not None and label not in class_index)
    if unknown:
        issues.append(
            SchemaIssue(
                kind="unknown_target_classes",
                column=target,
                count=sum(unknown.values()),
                examples=[c for c, _ in unknown.most_common(5)],
                detail=f"{sum(unknown.values())} row(s) have a {target} value the model cannot predict; left out",
            )
        )
    keep = np.array([label in class_index for label in labels], dtype=bool)
    if not keep.any():
        raise ValidationFailed(
            f"no row of the file has a {target} value the model knows ({', '.join(schema.classes)})",
            details={"unknown": dict(unknown)},
        )
    rows = frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    y = np.array([class_index[label] for label in labels if label in class_index], dtype=np.int64)
    log = IssueLog()
    proba = model.predict_proba_prepared(model.prepare_frame(rows, log))
    issues.extend(log.issues())

    warnings: list[MetricsWarning] = []
    missing_target = sum(label is None for label in labels)
    if missing_target:
        warnings.append(
            MetricsWarning(
                code="rows_without_target",
                column=target,
                message=f"{missing_target} row(s) have no {target} value and were left out",
            )
        )
    warnings.extend(class_warnings(y, schema.classes))
    for issue in issues:
        if issue.kind != "unused_columns":
            warnings.append(MetricsWarning(code="schema", column=issue.column, message=issue.detail))
    return compute_metrics(
        y,
        proba,
        schema,
        source="holdout",
        chosen_model=model.chosen_model,
        warnings=warnings,
        schema_issues=issues,
    )
