"""Rates with honest uncertainty for the outcome table: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

# One implementation of the interval, shared with GET /v1/stats/outcomes and the demo report.
from nightcrew.observe.outcomes import Z95, wilson_interval

__all__ = ["Z95", "Rate", "rate", "wilson_interval"]


@dataclass(frozen=True)
class Rate:
    """A count over a denominator, its proportion and 95% Wilson interval (proportion None without trials)."""

    count: int
    trials: int
    rate: float | None
    low: float
    high: float


def rate(count: int, trials: int) -> Rate:
    """``count`` of ``trials`` as a Rate with its 95% interval."""
    low, high = wilson_interval(count, trials)
    return Rate(count, trials, count / trials if trials else None, low, high)
