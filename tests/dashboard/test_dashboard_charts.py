"""Inline SVG charts: one bar per non-empty day, scaled to a round maximum, labels escaped, honest when empty."""

from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from nightcrew.dashboard.charts import daily_bar_chart, format_value, interval_marker, nice_ceiling

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(5)]
SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ElementTree.Element]:
    return ElementTree.fromstring(svg).findall(f"{SVG}rect")


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (0.013, 0.02), (450, 500)]
)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_bars_are_proportional_to_the_values() -> None:
    svg = daily_bar_chart("Events", DAYS, [0, 5, 10, 0, 2])
    bars = _bars(svg)
    assert len(bars) == 3
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[1] == pytest.approx(2 * heights[0]) and heights[0] == pytest.approx(2.5 * heights[2])
    titles = [b.findtext(f"{SVG}title") for b in bars]
    assert titles == ["2026-03-02: 5", "2026-03-03: 10", "2026-03-05: 2"]
    assert 'aria-label="Events: 17 over 5 days"' in svg
    assert "Mar 01" in svg and "Mar 05" in svg and "nothing in this period" not in svg


def test_empty_series_says_so() -> None:
    svg = daily_bar_chart("Bookings", DAYS, [0] * 5)
    assert _bars(svg) == [] and "nothing in this period" in svg


def test_labels_are_escaped_and_money_keeps_cents() -> None:
    svg = daily_bar_chart('<script>alert("x")</script>', DAYS, [0.5, 0, 0, 0, 0.004], unit="$")
    ElementTree.fromstring(svg)  # still well-formed XML
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert re.search(r"2026-03-05: \$0\.0040", svg)
    assert format_value(1234) == "1,234" and format_value(2.5) == "2.50" and format_value(3, "$") == "$3.00"


def test_mismatched_or_negative_series_are_refused() -> None:
    with pytest.raises(ValueError):
        daily_bar_chart("x", DAYS, [1, 2])
    with pytest.raises(ValueError):
        daily_bar_chart("x", DAYS, [1, -2, 0, 0, 0])


def test_interval_marker_places_band_and_tick() -> None:
    svg = interval_marker(0.5, 0.25, 0.75, width=104)
    root = ElementTree.fromstring(svg)
    band = root.find(f"{SVG}rect")
    assert band is not None and float(band.get("x", "0")) == pytest.approx(27) and float(band.get("width", "0")) == 50
    assert "50.0% (95% CI 25.0% to 75.0%)" in svg
    assert ElementTree.fromstring(interval_marker(None, 0.0, 1.0)).find(f"{SVG}rect") is None
    with pytest.raises(ValueError):
        interval_marker(0.5, 0.8, 0.2)
