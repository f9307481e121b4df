"""Per-day figures of days that are over, kept in memory so the overview re-reads only today.

Every row the overview counts is stamped with the clock when it is written (an event's received_at, a message's
sent_at, a stage move's changed_at, a ledger row's at, an action's created_at) and never moved, so once a day has
ended, and a grace period has let slow transactions commit, its figures can no longer change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")
GRACE = timedelta(minutes=15)


class SettledDays:
    """Figures per (tenant, metric, day) for settled days; a bounded number of tenants, least recently used out."""

    def __init__(self, *, grace: timedelta = GRACE, max_keys: int = 4096) -> None:
        self.grace = grace
        self.max_keys = max_keys
        self._days: OrderedDict[Hashable, dict[date, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def settled(self, start: datetime, days: int, now: datetime) -> int:
        """How many of the ``days`` days from ``start`` ended at least the grace period before ``now``."""
        count = 0
        while count < days and start + timedelta(days=count + 1) + self.grace <= now:
            count += 1
        return count

    def series(
        self,
        key: Hashable,
        start: datetime,
        days: int,
        now: datetime,
        compute: Callable[[datetime, int], list[T]],
    ) -> list[T]:
        """Per-day values from ``start``: settled days from memory (missing ones in one call), the rest live."""
        settled = self.settled(start, days, now)
        dates = [(start + timedelta(days=i)).date() for i in range(days)]
        with self._lock:
            known = dict(self._days.get(key, {}))
        missing = [i for i in range(settled) if dates[i] not in known]
        if missing:
            # One query from the first missing day to the last settled one (usually yesterday, or the whole window).
            first = missing[0]
            for offset, value in enumerate(compute(start + timedelta(days=first), settled - first)):
                known[dates[first + offset]] = value
            window = set(dates)
            with self._lock:
                self._days[key] = {d: v for d, v in known.items() if d in window}
                self._days.move_to_end(key)
                while len(self._days) > self.max_keys:
                    self._days.popitem(last=False)
        live = compute(start + timedelta(days=settled), days - settled) if settled < days else []
        return [known[dates[i]] for i in range(settled)] + live
