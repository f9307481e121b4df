"""The circuit breaker on a fake clock."""

from __future__ import annotations

from datetime import timedelta

from nightcrew.ai.breaker import BreakerState, CircuitBreaker
from nightcrew.clock import FakeClock


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("ep", clock, failure_threshold=3, cooldown=timedelta(seconds=30))


def test_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()  # a success in between resets the count
    b.record_failure()
    b.record_failure()
    assert b.snapshot().state is BreakerState.CLOSED and b.allow()
    b.record_failure()
    assert b.snapshot().state is BreakerState.OPEN and not b.allow()
    assert b.retry_at() == clock.now() + timedelta(seconds=30)
    assert b.snapshot().times_opened == 1


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(timedelta(seconds=29))
    assert not b.allow()
    clock.advance(timedelta(seconds=1))
    assert b.snapshot().state is BreakerState.HALF_OPEN
    assert b.allow()  # the probe
    assert not b.allow()  # nobody else while it is out
    b.record_success()
    assert b.snapshot().state is BreakerState.CLOSED and b.allow() and b.allow()
    assert b.snapshot().consecutive_failures == 0


def test_a_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(timedelta(seconds=31))
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    assert b.retry_at() == clock.now() + timedelta(seconds=30)
    assert b.snapshot().times_opened == 2


def test_a_probe_that_never_reports_back_does_not_wedge_the_endpoint() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(timedelta(seconds=31))
    assert b.allow()
    b.release()  # e.g. the probe found every slot busy and never went out
    assert b.allow()
    clock.advance(timedelta(seconds=31))
    assert b.allow()  # a stale probe slot is handed out again after a cool-down


def test_transitions_are_reported_once_each_not_per_call() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, int]] = []
    b = CircuitBreaker(
        "ep",
        clock,
        failure_threshold=3,
        cooldown=timedelta(seconds=30),
        on_transition=lambda s: seen.append((s.state, s.consecutive_failures)),
    )
    b.record_failure()
    b.record_failure()
    b.record_success()  # closed -> closed: not a transition
    assert seen == []
    for _ in range(3):
        b.record_failure()
    b.record_failure()  # a late failure while open restarts the cool-down but does not change state
    assert not b.allow()
    clock.advance(timedelta(seconds=30))
    assert b.allow()  # open -> half_open, the probe
    assert not b.allow()
    b.record_failure()  # the probe failed: half_open -> open
    clock.advance(timedelta(seconds=30))
    assert b.allow()
    b.record_success()  # half_open -> closed
    b.record_success()
    assert seen == [
        (BreakerState.OPEN, 3),
        (BreakerState.HALF_OPEN, 4),
        (BreakerState.OPEN, 5),
        (BreakerState.HALF_OPEN, 5),
        (BreakerState.CLOSED, 0),
    ]
