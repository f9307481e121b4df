"""A circuit breaker per endpoint: stop calling an endpoint that keeps failing, probe it after a cool-down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from nightcrew.clock import Clock


class BreakerState(StrEnum):
    """closed: calls flow; open: calls are refused; half_open: one probe call is allowed through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSnapshot:
    """A breaker's state for metrics and ``nightcrew providers``."""

    name: str
    state: BreakerState
    consecutive_failures: int
    opened_at: datetime | None
    retry_at: datetime | None
    failures: int
    successes: int
    times_opened: int


Transition = Callable[[BreakerSnapshot], None]


class BreakerSink(Protocol):
    """Where a router reports its breakers' transitions (the database, so every process can show them)."""

    def transition(self, endpoint: str, base_url: str, snapshot: BreakerSnapshot, at: datetime) -> None:
        """Store the endpoint's breaker state after a change."""
        ...


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; lets one probe through after ``cooldown``.

    ``on_transition`` hears each change of state (closed -> open -> half_open -> closed or open), outside the
    breaker's lock, and nothing else: a caller that stores it writes once per change, not once per call.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        failure_threshold: int = 5,
        cooldown: timedelta,
        on_transition: Transition | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown <= timedelta(0):
            raise ValueError("cooldown must be positive")
        self.name = name
        self._clock = clock
        self._threshold = failure_threshold
        self._cooldown = cooldown
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at: datetime | None = None
        self._probe_started: datetime | None = None
        self._failures = 0
        self._successes = 0
        self._times_opened = 0
        self._on_transition = on_transition

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, grants the single probe."""
        changed: BreakerSnapshot | None = None
        with self._lock:
            now = self._clock.now()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                if self._opened_at is not None and now >= self._opened_at + self._cooldown:
                    self._state = BreakerState.HALF_OPEN
                    self._probe_started = now
                    changed = self._snapshot_locked(self._state)
                else:
                    return False
            # Half-open: one probe at a time. A probe that never reported back (its thread died)
            # must not wedge the endpoint forever, so a stale probe slot is handed out again.
            elif self._probe_started is None or now >= self._probe_started + self._cooldown:
                self._probe_started = now
            else:
                return False
        self._announce(changed)
        return True

    def record_success(self) -> None:
        """The endpoint answered: close the circuit."""
        with self._lock:
            was = self._state
            self._successes += 1
            self._consecutive = 0
            self._state = BreakerState.CLOSED
            self._opened_at = None
            self._probe_started = None
            changed = self._snapshot_locked(self._state) if was is not BreakerState.CLOSED else None
        self._announce(changed)

    def record_failure(self) -> None:
        """The endpoint failed: count it, and open the circuit at the threshold or on a failed probe."""
        changed: BreakerSnapshot | None = None
        with self._lock:
            self._failures += 1
            self._consecutive += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._consecutive >= self._threshold
            ):
                self._open()
                changed = self._snapshot_locked(self._state)
            elif self._state is BreakerState.OPEN:
                # A call that was already in flight when the circuit opened: restart the cool-down.
                self._opened_at = self._clock.now()
        self._announce(changed)

    def _announce(self, snapshot: BreakerSnapshot | None) -> None:
        if snapshot is not None and self._on_transition is not None:
            self._on_transition(snapshot)

    def _snapshot_locked(self, state: BreakerState) -> BreakerSnapshot:
        if self._state is BreakerState.OPEN and self._opened_at is not None:
            retry_at: datetime | None = self._opened_at + self._cooldown
        elif self._state is BreakerState.HALF_OPEN and self._probe_started is not None:
            retry_at = self._probe_started + self._cooldown
        else:
            retry_at = None
        return BreakerSnapshot(
            name=self.name,
            state=state,
            consecutive_failures=self._consecutive,
            opened_at=self._opened_at,
            retry_at=retry_at,
            failures=self._failures,
            successes=self._successes,
            times_opened=self._times_opened,
        )

    def release(self) -> None:
        """A call ended without saying anything about the endpoint's health: free the probe slot."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._probe_started = None

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock.now()
        self._probe_started = None
        self._times_opened += 1

    @property
    def state(self) -> BreakerState:
        """The current state (an open circuit past its cool-down reads as half-open)."""
        with self._lock:
            if (
                self._state is BreakerState.OPEN
                and self._opened_at is not None
                and self._clock.now() >= self._opened_at + self._cooldown
            ):
                return BreakerState.HALF_OPEN
            return self._state

    def retry_at(self) -> datetime | None:
        """When the next probe may go out (None while closed)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return None
            if self._state is BreakerState.OPEN and self._opened_at is not None:
                return self._opened_at + self._cooldown
            if self._probe_started is not None:
                return self._probe_started + self._cooldown
            return self._clock.now()

    def snapshot(self) -> BreakerSnapshot:
        """A consistent view of the breaker for reporting."""
        state = self.state
        retry_at = self.retry_at()
        with self._lock:
            return BreakerSnapshot(
                name=self.name,
                state=state,
                consecutive_failures=self._consecutive,
                opened_at=self._opened_at,
                retry_at=retry_at,
                failures=self._failures,
                successes=self._successes,
                times_opened=self._times_opened,
            )
