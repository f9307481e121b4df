"""Session cookies: signed, tamper-evident, time-limited by the clock; CSRF tokens compared in constant time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nightcrew.dashboard.auth import (
    SESSION_LIFETIME,
    anonymous_payload,
    csrf_matches,
    is_fresh,
    new_csrf_token,
    session_payload,
    sign,
    signing_key,
    unsign,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
KEY = signing_key("admin-key", b"unused")


def test_signed_payload_round_trips_and_holds_no_key() -> None:
    payload = session_payload(tenant_id=3, key_id="env", key_name="admin", csrf="t", now=NOW)
    token = sign(payload, KEY)
    assert unsign(token, KEY) == payload
    assert "admin-key" not in token


def test_tampering_or_another_key_breaks_the_signature() -> None:
    token = sign(anonymous_payload("abc", NOW), KEY)
    body, mac = token.split(".")
    assert unsign(f"{body}x.{mac}", KEY) is None
    assert unsign(f"{body}.{mac[:-1]}A" if not mac.endswith("A") else f"{body}.{mac[:-1]}B", KEY) is None
    assert unsign(token, signing_key("another-admin-key", b"unused")) is None
    for junk in (None, "", "no-dot", "a.b.c", "!!.??"):
        assert unsign(junk, KEY) is None


def test_signing_key_comes_from_the_admin_key_else_the_fallback() -> None:
    assert signing_key("a", b"f") == signing_key("a", b"g") != signing_key("b", b"f")
    assert signing_key(None, b"fallback") == b"fallback"
    assert signing_key("a", b"f") != b"a"


def test_sessions_expire_on_the_clock() -> None:
    payload = anonymous_payload("x", NOW)
    assert is_fresh(payload, NOW) and is_fresh(payload, NOW + SESSION_LIFETIME)
    assert not is_fresh(payload, NOW + SESSION_LIFETIME + timedelta(seconds=1))
    assert not is_fresh(payload, NOW - timedelta(hours=1))
    assert not is_fresh({"csrf": "x"}, NOW)


def test_csrf_tokens_match_only_exactly() -> None:
    token = new_csrf_token()
    assert len(token) >= 40 and token != new_csrf_token()
    assert csrf_matches(token, token)
    assert not csrf_matches(token, token + "x") and not csrf_matches(token, "") and not csrf_matches(token, None)
    assert not csrf_matches(None, token) and not csrf_matches("", "")
