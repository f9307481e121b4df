"""Settled days are read once; today (and a day that ended inside the grace period) is read on every visit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nightcrew.dashboard.daycache import SettledDays

START = datetime(2026, 3, 1, tzinfo=UTC)


class Source:
    """Per-day values that can change after the fact, and a log of what was asked."""

    def __init__(self) -> None:
        self.values = {i: float(i) for i in range(60)}
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: datetime, days: int) -> list[float]:
        first = (start - START).days
        self.calls.append((first, days))
        return [self.values[first + i] for i in range(days)]


def test_settled_days_are_computed_once_and_today_every_time() -> None:
    cache, source = SettledDays(), Source()
    now = START + timedelta(days=4, hours=12)
    assert cache.series("k", START, 5, now, source) == [0, 1, 2, 3, 4]
    assert source.calls == [(0, 4), (4, 1)]
    source.values[2] = 99.0  # a settled day cannot change in production; here it shows what is re-read
    source.values[4] = 40.0
    assert cache.series("k", START, 5, now, source) == [0, 1, 2, 3, 40]
    assert source.calls[2:] == [(4, 1)]


def test_a_day_within_the_grace_period_is_still_read_live() -> None:
    cache, source = SettledDays(grace=timedelta(minutes=15)), Source()
    just_after_midnight = START + timedelta(days=3, minutes=5)
    cache.series("k", START, 4, just_after_midnight, source)
    assert source.calls == [(0, 2), (2, 2)]
    assert cache.settled(START, 4, START + timedelta(days=3, minutes=15)) == 3


def test_a_new_day_reads_only_the_day_that_just_settled() -> None:
    cache, source = SettledDays(), Source()
    cache.series("k", START, 3, START + timedelta(days=2, minutes=16), source)
    source.calls.clear()
    # The window slid one day: only the day that ended is new, plus the live one.
    later = START + timedelta(days=3, hours=1)
    assert cache.series("k", START + timedelta(days=1), 3, later, source) == [1, 2, 3]
    assert source.calls == [(2, 1), (3, 1)]


def test_keys_are_separate_and_bounded() -> None:
    cache, source = SettledDays(max_keys=2), Source()
    now = START + timedelta(days=3)
    for key in ("a", "b", "c"):
        cache.series(key, START, 2, now, source)
    source.calls.clear()
    cache.series("c", START, 2, now, source)
    assert source.calls == []
    cache.series("a", START, 2, now, source)
    assert source.calls == [(0, 2)]
