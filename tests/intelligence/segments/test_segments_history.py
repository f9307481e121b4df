"""The demo history: deterministic, realistic base rate, gaps, interactions, and an optional leak."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from nightcrew.intelligence.segments import parse_crm_csv
from nightcrew.simulate.history import generate_history, write_history_csv

END = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = [
    "lead_id",
    "created_at",
    "country",
    "city",
    "parent_language",
    "child_age",
    "inquiry_type",
    "source",
    "preferred_channel",
    "number_of_children",
    "asked_price",
    "first_message",
    "response_minutes",
    "enrolled",
]


def test_same_seed_same_history() -> None:
    first = generate_history(500, 3, END)
    pd.testing.assert_frame_equal(first, generate_history(500, 3, END))
    assert not first.equals(generate_history(500, 4, END))
    assert list(first.columns) == COLUMNS


def test_history_looks_like_a_real_crm() -> None:
    history = generate_history(20000, 5, END)
    rate = (history["enrolled"] == "yes").mean()
    assert 0.08 <= rate <= 0.15
    assert history["created_at"].min() >= pd.Timestamp("2024-01-01")
    assert history["created_at"].max() < pd.Timestamp("2026-01-01")
    assert history["created_at"].is_monotonic_increasing
    for column in ("city", "child_age", "preferred_channel", "response_minutes"):
        assert 0.01 < history[column].isna().mean() < 0.1, column
    assert set(history["country"]) == {"MX", "CO", "AR", "CL", "PE", "BR", "US"}
    assert set(history.loc[history["country"] == "BR", "parent_language"]) >= {"pt"}
    assert history["city"].nunique() > 60  # a long tail of rare towns


def test_conversion_depends_on_interactions() -> None:
    history = generate_history(30000, 6, END)
    won = history["enrolled"] == "yes"
    age = history["child_age"].astype("float")
    sweet_spot = (
        (history["source"] == "referral")
        & history["inquiry_type"].isin(["coding_course", "both"])
        & age.between(10, 14)
    )
    assert won[sweet_spot].mean() > 2.5 * won.mean()
    paid = history["source"].isin(["instagram", "facebook", "tiktok"])
    fast, slow = history["response_minutes"] < 10, history["response_minutes"] > 120
    drop_paid = won[paid & fast].mean() - won[paid & slow].mean()
    drop_other = won[~paid & fast].mean() - won[~paid & slow].mean()
    assert drop_paid > 0 and drop_other > 0
    assert drop_paid / won[paid].mean() > drop_other / won[~paid].mean()  # slowness costs paid social more


def test_leaky_columns_are_known_only_after_enrolment() -> None:
    history = generate_history(2000, 2, date(2026, 1, 1), include_leaky=True)
    won = history["enrolled"] == "yes"
    assert history.loc[won, "paid_amount"].notna().all() and history.loc[~won, "paid_amount"].isna().all()
    assert history.loc[won, "enrolment_invoice_id"].notna().all()
    assert history.loc[~won, "enrolment_invoice_id"].isna().all()


def test_csv_round_trip(tmp_path: Path) -> None:
    path = write_history_csv(tmp_path / "history.csv", 300, 1, END, delimiter=";")
    frame = parse_crm_csv(path.read_bytes())
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 300
    assert frame.loc[0, "created_at"].count(":") == 2
