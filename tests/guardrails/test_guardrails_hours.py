"""Hours: deferred instants land inside allowed hours, never before now; instants inside hours pass."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nightcrew.guardrails.context import ContactInfo, Draft, GuardrailContext, SentMessage
from nightcrew.guardrails.hours import check_hours, is_holiday, next_allowed_minute
from nightcrew.guardrails.pipeline import run_guardrails
from nightcrew.guardrails.policy import WEEKDAYS, HoursPolicy, PolicySet
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.playbook import load_playbook

POLICY = PolicySet.from_playbook(load_playbook())
HOURS = POLICY.hours
# Zones with the country whose holidays apply there.
PLACES = [
    ("America/Mexico_City", "MX", "Ciudad de México, México"),
    ("America/Bogota", "CO", "Bogotá, Colombia"),
    ("America/Sao_Paulo", "BR", "São Paulo, Brasil"),
    ("America/Lima", "PE", "Lima, Perú"),
    ("America/Argentina/Buenos_Aires", "AR", "Buenos Aires, Argentina"),
    ("America/Santiago", "CL", "Santiago, Chile"),
    ("America/New_York", "US", "New York, USA"),
    ("Europe/Madrid", "ES", "Madrid, España"),
]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


def allowed_at(moment: datetime, zone: ZoneInfo, country: str, policy: HoursPolicy) -> bool:
    """The rule, restated for the test: inside a window of a non-holiday day, in local time."""
    local = moment.astimezone(zone)
    if is_holiday(local.date(), country, policy):
        return False
    windows = policy.windows_for(WEEKDAYS[local.weekday()])
    return any(w.start <= local.time() < w.end for w in windows)


@settings(max_examples=400)
@given(instants, st.sampled_from(PLACES))
def test_a_deferred_instant_is_inside_allowed_hours_and_never_before_now(
    now: datetime, place: tuple[str, str, str]
) -> None:
    zone_name, country, _ = place
    zone = ZoneInfo(zone_name)
    verdict = check_hours(now, zone, HOURS, country)
    if verdict.kind is VerdictKind.PASS:
        assert allowed_at(now, zone, country, HOURS)
        return
    assert verdict.kind is VerdictKind.DEFER
    assert verdict.until is not None
    assert verdict.until >= now
    assert allowed_at(verdict.until, zone, country, HOURS), verdict.reason
    # It is the first allowed minute: the minute before is closed (or already in the past).
    before = verdict.until - timedelta(minutes=1)
    assert before < now or not allowed_at(before, zone, country, HOURS)


@settings(max_examples=300)
@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)), st.sampled_from(PLACES), st.data())
def test_instants_inside_allowed_hours_pass(day: date, place: tuple[str, str, str], data: st.DataObject) -> None:
    zone_name, country, _ = place
    zone = ZoneInfo(zone_name)
    windows = HOURS.windows_for(WEEKDAYS[day.weekday()])
    assume(windows and not is_holiday(day, country, HOURS))
    window = data.draw(st.sampled_from(windows))
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    minute = data.draw(st.integers(min_value=start, max_value=end - 1))
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    now = local.astimezone(UTC)
    assume(now.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None))  # not inside a DST gap
    verdict = check_hours(now, zone, HOURS, country)
    assert verdict.kind is VerdictKind.PASS, verdict.reason


def test_a_fresh_reply_passes_at_night_and_a_stale_one_defers() -> None:
    zone = ZoneInfo("America/Mexico_City")
    night = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 22:00 local
    fresh = check_hours(night, zone, HOURS, "MX", last_inbound_at=night - timedelta(minutes=5))
    stale = check_hours(night, zone, HOURS, "MX", last_inbound_at=night - timedelta(hours=2))
    assert fresh.kind is VerdictKind.PASS
    assert stale.kind is VerdictKind.DEFER
    assert stale.until == next_allowed_minute(night, zone, HOURS, "MX")


@settings(max_examples=60, deadline=None)
@given(instants, st.sampled_from(PLACES), st.integers(min_value=0, max_value=3))
def test_the_pipeline_defers_into_hours_and_under_the_caps(
    now: datetime, place: tuple[str, str, str], recent: int
) -> None:
    location = place[2]
    sends = tuple(SentMessage(at=now - timedelta(hours=1 + 2 * i), channel="sms") for i in range(recent))
    context = GuardrailContext(
        now=now, channel="sms", contact=ContactInfo(language="es", location=location), recent_sends=sends
    )
    outcome = run_guardrails(Draft(text="Hola, ¿te gustaría agendar una clase de prueba?"), context, POLICY)
    if outcome.kind is VerdictKind.PASS:
        return
    assert outcome.kind is VerdictKind.DEFER, outcome.reasons
    assert outcome.until is not None and outcome.until >= now
    later = run_guardrails(Draft(text=outcome.text), context.at(outcome.until), POLICY)
    assert later.kind is VerdictKind.PASS, later.reasons
