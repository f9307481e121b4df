"""The 95% Wilson interval behind the outcome table's rates."""

from __future__ import annotations

import pytest

from nightcrew.dashboard.stats import rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 100, 0.0018, 0.0545),
        (50, 1000, 0.0381, 0.0653),
    ],
)
def test_known_intervals(successes: int, trials: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(successes, trials)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_no_trials_means_nothing_is_known() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    empty = rate(0, 0)
    assert empty.rate is None and (empty.low, empty.high) == (0.0, 1.0)


def test_more_data_narrows_the_interval() -> None:
    small, large = wilson_interval(3, 10), wilson_interval(300, 1000)
    assert large[1] - large[0] < small[1] - small[0]


@pytest.mark.parametrize(("successes", "trials"), [(-1, 5), (6, 5), (1, -1)])
def test_impossible_counts_are_refused(successes: int, trials: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, trials)


def test_interval_holds_the_observed_rate_inside_zero_and_one() -> None:
    # Every count up to 80 trials, then the edges of a few large samples.
    cases = [(k, n) for n in range(1, 81) for k in range(n + 1)]
    cases += [(k, n) for n in (1_000, 99_999) for k in (0, 1, n // 2, n - 1, n)]
    for successes, trials in cases:
        low, high = wilson_interval(successes, trials)
        assert 0.0 <= low <= successes / trials <= high <= 1.0, (successes, trials)
        r = rate(successes, trials)
        assert r.rate == successes / trials and (r.low, r.high) == (low, high)
