"""Rates with honest uncertainty for the outcome table: pure functions, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion; (0, 1) when there are no trials (nothing is known)."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if z <= 0:
        raise ValueError("z must be positive")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # Rounding can push the bounds a hair outside [0, 1] (or past p) at the extremes.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


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
