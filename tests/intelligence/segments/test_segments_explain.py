"""One lead's prediction and its explanation in operator words."""

from __future__ import annotations

import pandas as pd
import pytest

from nightcrew.intelligence.segments import TrainingResult, predict_one


def test_the_driving_field_explains_the_prediction(driver_result: TrainingResult) -> None:
    model = driver_result.model
    assert model.schema.column("plan").reference == "basic"
    premium = predict_one(model, {"plan": "premium", "score": 50.0, "region": "north"})
    assert premium.label == "yes" and premium.positive_class == "yes"
    assert premium.probability == pytest.approx(0.8, abs=0.1)
    top = premium.contributions[0]
    assert top.field == "plan" and top.value == "premium" and top.reference == "basic"
    assert top.delta > 0.3
    assert top.text == f"plan=premium raised P(converted) by {top.delta:.2f}"
    assert all(abs(c.delta) < 0.1 for c in premium.contributions[1:])

    trial = predict_one(model, {"plan": "trial", "score": 50.0, "region": "north"})
    assert trial.probability < 0.15
    assert trial.contributions[0].field == "plan"
    assert trial.contributions[0].text.startswith("plan=trial lowered P(converted) by")

    typical = predict_one(model, {"plan": "basic", "score": 50.0, "region": "north"})
    assert all(c.field != "plan" for c in typical.contributions)


def test_single_prediction_matches_batch_scoring(demo_result: TrainingResult, demo_history: pd.DataFrame) -> None:
    rows = demo_history.iloc[2400:2440]
    batch = demo_result.model.predict_proba(rows)
    positive = demo_result.model.classes.index("yes")
    for i, record in enumerate(rows.to_dict(orient="records")):
        single = predict_one(demo_result.model, record)
        assert single.probability == pytest.approx(batch[i, positive], abs=1e-12)
        assert single.probabilities["yes"] + single.probabilities["no"] == pytest.approx(1.0)
        assert len(single.contributions) <= 3


def test_records_from_the_api_are_read_leniently(demo_result: TrainingResult) -> None:
    prediction = predict_one(
        demo_result.model,
        {
            "created_at": "2025-12-30T21:15:00Z",
            "country": "MX",
            "child_age": "12",
            "inquiry_type": "Coding_Course ",
            "source": "carrier pigeon",
            "asked_price": "sí",
            "first_message": "Hola, queremos empezar este mes con programación",
            "response_minutes": 2,
            "unrelated_field": {"nested": True},
        },
        top=5,
    )
    assert 0.0 < prediction.probability < 1.0
    fields = {c.field for c in prediction.contributions}
    assert len(prediction.contributions) <= 5
    missing = {c.field: c.value for c in prediction.contributions if c.value == "(missing)"}
    assert set(missing) <= {"city", "parent_language", "preferred_channel", "number_of_children"}
    assert fields <= set(demo_result.model.field_names)
