"""Held-out evaluation: schema differences are reported, never a crash; a missing target is an error."""

from __future__ import annotations

import pandas as pd
import pytest

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments import TrainingResult, evaluate_segment_model, render_metrics_table


def test_holdout_with_unknown_categories_missing_column_and_bad_values(
    demo_result: TrainingResult, demo_history: pd.DataFrame
) -> None:
    holdout = demo_history.iloc[2400:].drop(columns=["preferred_channel"]).reset_index(drop=True)
    holdout["source"] = holdout["source"].where(holdout.index % 10 != 0, "linkedin")
    holdout["child_age"] = holdout["child_age"].astype(object).where(holdout.index % 25 != 0, "ten")
    holdout["crm_owner"] = "ana"
    metrics = evaluate_segment_model(demo_result.model, holdout, "enrolled")

    assert metrics.source == "holdout" and metrics.n_rows == 600
    issues = {(i.kind, i.column): i for i in metrics.schema_issues}
    assert issues[("missing_column", "preferred_channel")].count == 600
    unknown = issues[("unknown_categories", "source")]
    assert unknown.count == 60 and unknown.examples == ["linkedin"]
    assert issues[("unparseable_values", "child_age")].examples == ["ten"]
    assert issues[("unused_columns", None)].examples == ["crm_owner"]
    assert {w.column for w in metrics.warnings if w.code == "schema"} >= {"preferred_channel", "source", "child_age"}
    assert metrics.roc_auc is not None and metrics.roc_auc > 0.6
    table = render_metrics_table(metrics)
    assert table.row_count >= 10


def test_target_spelled_differently_gives_the_same_metrics(
    demo_result: TrainingResult, demo_history: pd.DataFrame
) -> None:
    holdout = demo_history.iloc[2400:]
    as_words = evaluate_segment_model(demo_result.model, holdout, "enrolled")
    as_numbers = evaluate_segment_model(
        demo_result.model, holdout.assign(enrolled=holdout["enrolled"].map({"yes": 1, "no": 0})), "Enrolled"
    )
    assert as_numbers.model_dump() == as_words.model_dump()


def test_unknown_target_values_are_reported_and_left_out(
    demo_result: TrainingResult, demo_history: pd.DataFrame
) -> None:
    holdout = demo_history.iloc[2400:].reset_index(drop=True)
    holdout["enrolled"] = holdout["enrolled"].where(holdout.index >= 20, "maybe")
    holdout.loc[20:29, "enrolled"] = None
    metrics = evaluate_segment_model(demo_result.model, holdout, "enrolled")
    assert metrics.n_rows == 570
    issue = next(i for i in metrics.schema_issues if i.kind == "unknown_target_classes")
    assert issue.count == 20 and issue.examples == ["maybe"]
    assert any(w.code == "rows_without_target" and "10 row" in w.message for w in metrics.warnings)


def test_a_file_without_the_target_is_a_clear_error(demo_result: TrainingResult, demo_history: pd.DataFrame) -> None:
    with pytest.raises(ValidationFailed, match="target column 'enrolled' is not in the file"):
        evaluate_segment_model(demo_result.model, demo_history.drop(columns=["enrolled"]), "enrolled")
    only_unknown = demo_history.iloc[:50].assign(enrolled="perhaps")
    with pytest.raises(ValidationFailed, match="no row of the file"):
        evaluate_segment_model(demo_result.model, only_unknown, "enrolled")
