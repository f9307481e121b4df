"""Quiet hours: outbound messages only inside the contact's allowed local hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from nightcrew.guardrails.policy import WEEKDAYS, HoursPolicy
from nightcrew.guardrails.verdict import Verdict

CHECK = "hours"
_SEARCH_DAYS = 21


@lru_cache(maxsize=64)
def _holiday_calendar(country: str, year: int) -> holiday_calendars.HolidayBase | None:
    try:
        return holiday_calendars.country_holidays(country, years=year)
    except NotImplementedError:  # the holidays package's answer for a country it has no calendar for
        return None


def is_holiday(day: date, country: str | None, policy: HoursPolicy) -> str | None:
    """The holiday's name when ``day`` is a public holiday in ``country`` and holidays are enabled."""
    if not policy.holidays.enabled:
        return None
    country = country or policy.holidays.default_country
    if not country:
        return None
    calendar = _holiday_calendar(country, day.year)
    if calendar is None:
        return None
    name = calendar.get(day)
    return str(name) if name else None


def _ceil_minute(moment: datetime) -> datetime:
    if moment.second or moment.microsecond:
        return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment


def next_allowed_minute(now: datetime, zone: ZoneInfo, policy: HoursPolicy, country: str | None) -> datetime:
    """The first whole minute at or after ``now`` inside an allowed window (UTC)."""
    local = _ceil_minute(now.astimezone(zone))
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        if is_holiday(day, country, policy):
            continue
        for window in policy.windows_for(WEEKDAYS[day.weekday()]):
            start = datetime.combine(day, window.start, tzinfo=zone)
            end = datetime.combine(day, window.end, tzinfo=zone)
            if offset == 0 and local >= end:
                continue
            candidate = max(start, local) if offset == 0 else start
            # A start inside a DST gap does not exist locally; round-trip through UTC fixes it.
            return candidate.astimezone(UTC)
    raise ValueError(f"no allowed sending window in the next {_SEARCH_DAYS} days: check the playbook hours")


def check_hours(
    now: datetime,
    zone: ZoneInfo,
    policy: HoursPolicy,
    country: str | None = None,
    *,
    last_inbound_at: datetime | None = None,
) -> Verdict:
    """Pass inside allowed hours (or when answering a fresh inbound message), else defer."""
    if last_inbound_at is not None and now - last_inbound_at <= timedelta(minutes=policy.reply_window_minutes):
        return Verdict.passed(CHECK, "reply to a message the contact just sent")
    local = now.astimezone(zone)
    holiday = is_holiday(local.date(), country, policy)
    allowed = next_allowed_minute(now, zone, policy, country)
    if holiday is None and allowed <= _ceil_minute(now) and _inside(local, policy):
        return Verdict.passed(CHECK, f"{local:%a %H:%M} {zone.key} is inside allowed hours")
    why = f"public holiday ({holiday})" if holiday else "outside allowed hours"
    return Verdict.defer(
        CHECK,
        allowed,
        f"{local:%a %H:%M} {zone.key} is {why}; deferred to {allowed.astimezone(zone):%a %H:%M} local",
    )


def _inside(local: datetime, policy: HoursPolicy) -> bool:
    return any(w.start <= local.time() < w.end for w in policy.windows_for(WEEKDAYS[local.weekday()]))
