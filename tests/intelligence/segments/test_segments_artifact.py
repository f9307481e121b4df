"""Saving and loading with skops: identical predictions, integrity hash, no untrusted types."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments import (
    CandidateName,
    TrainingResult,
    dataset_sha256,
    load_model,
    model_from_bytes,
    model_to_bytes,
    predict_one,
    save_model,
    train_segment_model,
)
from nightcrew.simulate.history import generate_history

REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)


def test_round_trip_gives_identical_predictions(
    demo_result: TrainingResult, demo_history: pd.DataFrame, tmp_path: Path
) -> None:
    info = save_model(demo_result.model, tmp_path / "v1")
    assert Path(info.path).name == "model.skops"
    assert info.training_data_hash == demo_result.training_data_hash
    assert info.data_schema == demo_result.schema
    loaded = load_model(tmp_path / "v1", expected_sha256=info.sha256)
    holdout = demo_history.iloc[2400:]
    assert np.array_equal(loaded.predict_proba(holdout), demo_result.model.predict_proba(holdout))
    record = holdout.iloc[0].to_dict()
    assert predict_one(loaded, record) == predict_one(demo_result.model, record)
    assert loaded.metrics == demo_result.metrics
    assert loaded.chosen_model == demo_result.model.chosen_model


@pytest.mark.parametrize("candidate", ["gradient_boosting", "logistic_regression"])
def test_both_model_families_round_trip_without_trusted_types(candidate: CandidateName) -> None:
    history = generate_history(600, 4, REFERENCE)
    result = train_segment_model(
        history, "enrolled", id_column="lead_id", reference_time=REFERENCE, n_splits=2, candidates=[candidate]
    )
    data = model_to_bytes(result.model)
    assert sio.get_untrusted_types(data=data) == []
    loaded = model_from_bytes(data)
    assert loaded.chosen_model == candidate
    assert loaded.schema == result.schema
    assert np.array_equal(loaded.predict_proba(history), result.model.predict_proba(history))


def test_changed_or_foreign_files_are_refused(demo_result: TrainingResult, tmp_path: Path) -> None:
    info = save_model(demo_result.model, tmp_path)
    with pytest.raises(ValidationFailed, match="has changed since it was registered"):
        load_model(Path(info.path), expected_sha256="0" * 64)
    hostile = tmp_path / "hostile.skops"
    sio.dump({"format": "nightcrew.segment_model/1", "hook": functools.partial(print, "hi")}, hostile)
    with pytest.raises(ValidationFailed, match=r"functools\.partial"):
        load_model(hostile)
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValidationFailed):
        load_model(garbage)
    with pytest.raises(ValidationFailed, match="no model file"):
        load_model(tmp_path / "missing")


def test_dataset_hash_is_stable_and_sensitive(demo_history: pd.DataFrame) -> None:
    first = dataset_sha256(demo_history)
    assert first == dataset_sha256(demo_history.copy())
    changed = demo_history.copy()
    changed.loc[0, "enrolled"] = "yes" if changed.loc[0, "enrolled"] == "no" else "no"
    assert dataset_sha256(changed) != first
    assert dataset_sha256(b"a,b\n1,2\n") == dataset_sha256(b"a,b\n1,2\n") != dataset_sha256(b"a,b\n1,3\n")
