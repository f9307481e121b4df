"""Shared training runs for the segment-model tests (each model is trained once per session)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from nightcrew.intelligence.segments import TrainingResult, train_segment_model
from nightcrew.simulate.history import generate_history

REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_history() -> pd.DataFrame:
    """Aurora Kids history, 3,000 leads."""
    return generate_history(3000, 11, REFERENCE)


@pytest.fixture(scope="session")
def demo_result(demo_history: pd.DataFrame) -> TrainingResult:
    """A model trained on the first 2,400 demo leads."""
    return train_segment_model(
        demo_history.iloc[:2400], "enrolled", id_column="lead_id", reference_time=REFERENCE, n_splits=3
    )


def driver_frame(n: int, seed: int) -> pd.DataFrame:
    """Leads whose outcome is driven by ``plan`` alone; ``score`` and ``region`` are noise."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["premium", "basic", "trial"], size=n, p=[0.3, 0.4, 0.3])
    rate = np.select([plan == "premium", plan == "basic"], [0.8, 0.25], 0.05)
    return pd.DataFrame(
        {
            "plan": plan,
            "score": rng.normal(50, 10, n).round(1),
            "region": rng.choice(["north", "south", "east", "west"], size=n),
            "converted": np.where(rng.random(n) < rate, "yes", "no"),
        }
    )


@pytest.fixture(scope="session")
def driver_result() -> TrainingResult:
    """A model on data where one field decides the outcome."""
    return train_segment_model(driver_frame(1200, 3), "converted", reference_time=REFERENCE, n_splits=3)
