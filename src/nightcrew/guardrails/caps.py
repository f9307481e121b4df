"""Frequency caps: at most N messages per contact in a rolling day and week, per channel and in total."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from nightcrew.guardrails.context import SentMessage
from nightcrew.guardrails.policy import CapsPolicy, ChannelKind
from nightcrew.guardrails.verdict import Verdict

CHECK = "caps"
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


def _free_at(sends: Sequence[datetime], now: datetime, window: timedelta, cap: int) -> datetime | None:
    """When one more send fits under ``cap`` in a rolling ``window``; None when it fits now."""
    inside = sorted(at for at in sends if now - window < at <= now)
    if len(inside) < cap:
        return None
    # The send that has to age out is the (n - cap + 1)-th oldest; at that instant it leaves the window.
    return inside[len(inside) - cap] + window


def check_caps(
    now: datetime, channel: ChannelKind, sends: Sequence[SentMessage], policy: CapsPolicy, *, exempt: str | None = None
) -> Verdict:
    """Pass under every cap; else defer to the first instant all caps allow one more message."""
    if exempt:
        return Verdict.passed(CHECK, f"not capped: {exempt}")
    on_channel = [s.at for s in sends if s.channel == channel]
    every = [s.at for s in sends]
    limits: list[tuple[str, Sequence[datetime], timedelta, int | None]] = [
        (f"{channel} per day", on_channel, _DAY, policy.per_day.get(channel)),
        (f"{channel} per week", on_channel, _WEEK, policy.per_week.get(channel)),
        ("all channels per day", every, _DAY, policy.per_day_total),
        ("all channels per week", every, _WEEK, policy.per_week_total),
    ]
    hit: list[str] = []
    until: datetime | None = None
    for name, times, window, cap in limits:
        if cap is None:
            continue
        free = _free_at(times, now, window, cap)
        if free is not None:
            hit.append(f"{name} cap {cap} reached")
            until = free if until is None else max(until, free)
    if until is None:
        return Verdict.passed(CHECK, f"{len(on_channel)} {channel} message(s) on record; under every cap")
    # Deferring past one window can bring an older send of another window back into play: settle it.
    for _ in range(8):
        later = [_free_at(times, until, window, cap) for _, times, window, cap in limits if cap is not None]
        pending = [t for t in later if t is not None]
        if not pending:
            break
        until = max(pending)
    return Verdict.defer(CHECK, until, f"{'; '.join(hit)}; next send allowed at {until.isoformat()}")
