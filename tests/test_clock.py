from datetime import UTC, datetime, timedelta

import pytest

from nightcrew.clock import FakeClock, SystemClock, ensure_utc


def test_fake_clock_moves_only_forward() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.advance(timedelta(hours=48)) == datetime(2026, 1, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))


def test_fake_clock_refuses_naive_start() -> None:
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC


def test_ensure_utc_treats_naive_as_utc() -> None:
    assert ensure_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
