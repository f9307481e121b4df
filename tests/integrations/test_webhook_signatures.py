"""Signature checks of inbound webhooks: HubSpot v3, GoHighLevel (Ed25519, RSA, shared secret), Twilio, generic."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from nightcrew.clock import FakeClock
from nightcrew.errors import Unauthorized
from nightcrew.events.adapters.generic import InMemoryReplayGuard, sign_generic, verify_generic
from nightcrew.events.adapters.gohighlevel import verify_gohighlevel
from nightcrew.events.adapters.hubspot import hubspot_request_uri, verify_hubspot
from nightcrew.events.adapters.twilio import twilio_signature, verify_twilio

SECRET = "hubspot-app-client-secret"
HOOK_URL = "https://nightcrew.example.com/v1/hooks/hubspot/acme"


def reason(info: pytest.ExceptionInfo[Unauthorized]) -> str:
    return str(info.value.details["reason"])


def hubspot_headers(method: str, url: str, body: bytes, timestamp_ms: int, secret: str = SECRET) -> dict[str, str]:
    # Follows HubSpot's published steps independently of the code under test.
    source = f"{method}{url}{body.decode()}{timestamp_ms}".encode()
    signature = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(timestamp_ms)}


# ----------------------------------------------------------------------------------------------- HubSpot v3


def test_hubspot_v3_accepts_a_fresh_signed_request(clock: FakeClock) -> None:
    body = b'[{"eventId":1,"subscriptionType":"contact.creation","objectId":101,"occurredAt":1767614400000}]'
    stamp = int(clock.now().timestamp() * 1000) - 2_000
    verify_hubspot(
        "POST", HOOK_URL, body, hubspot_headers("POST", HOOK_URL, body, stamp), client_secret=SECRET, clock=clock
    )


def test_hubspot_v3_rejects_tampering_wrong_secret_and_missing_headers(clock: FakeClock) -> None:
    body = b'[{"eventId":1}]'
    stamp = int(clock.now().timestamp() * 1000)
    headers = hubspot_headers("POST", HOOK_URL, body, stamp)
    cases = [
        ("POST", HOOK_URL, b'[{"eventId":2}]', headers),
        ("POST", HOOK_URL + "?x=1", body, headers),
        ("PUT", HOOK_URL, body, headers),
        ("POST", HOOK_URL, body, hubspot_headers("POST", HOOK_URL, body, stamp, secret="other")),
        ("POST", HOOK_URL, body, {**headers, "X-HubSpot-Request-Timestamp": str(stamp + 1)}),
    ]
    for method, url, payload, given in cases:
        with pytest.raises(Unauthorized) as info:
            verify_hubspot(method, url, payload, given, client_secret=SECRET, clock=clock)
        assert reason(info) == "bad_signature"
    with pytest.raises(Unauthorized) as missing:
        verify_hubspot(
            "POST", HOOK_URL, body, {"X-HubSpot-Request-Timestamp": str(stamp)}, client_secret=SECRET, clock=clock
        )
    assert reason(missing) == "missing_header"
    assert "X-HubSpot-Signature-v3" in missing.value.message


def test_hubspot_v3_rejects_a_timestamp_older_than_five_minutes(clock: FakeClock) -> None:
    body = b"[]"
    stamp = int(clock.now().timestamp() * 1000)
    headers = hubspot_headers("POST", HOOK_URL, body, stamp)
    clock.advance(timedelta(minutes=4, seconds=59))
    verify_hubspot("POST", HOOK_URL, body, headers, client_secret=SECRET, clock=clock)
    clock.advance(timedelta(seconds=2))
    with pytest.raises(Unauthorized) as info:
        verify_hubspot("POST", HOOK_URL, body, headers, client_secret=SECRET, clock=clock)
    assert reason(info) == "stale_timestamp"
    assert "301 s old" in info.value.message


def test_hubspot_v3_signs_the_uri_with_the_listed_escapes_decoded(clock: FakeClock) -> None:
    called = "https://nightcrew.example.com/v1/hooks/hubspot/acme?source=hub%3Aspot%2Cv3&q=a%20b"
    decoded = "https://nightcrew.example.com/v1/hooks/hubspot/acme?source=hub:spot,v3&q=a%20b"
    assert hubspot_request_uri(called) == decoded
    stamp = int(clock.now().timestamp() * 1000)
    verify_hubspot(
        "POST", called, b"[]", hubspot_headers("POST", decoded, b"[]", stamp), client_secret=SECRET, clock=clock
    )


def test_hubspot_v3_replayed_request_is_rejected(clock: FakeClock) -> None:
    guard = InMemoryReplayGuard(clock)
    stamp = int(clock.now().timestamp() * 1000)
    headers = hubspot_headers("POST", HOOK_URL, b"[]", stamp)
    verify_hubspot("POST", HOOK_URL, b"[]", headers, client_secret=SECRET, clock=clock, replay_guard=guard)
    with pytest.raises(Unauthorized) as info:
        verify_hubspot("POST", HOOK_URL, b"[]", headers, client_secret=SECRET, clock=clock, replay_guard=guard)
    assert reason(info) == "replay"


def test_hubspot_without_a_configured_secret_refuses(clock: FakeClock) -> None:
    with pytest.raises(Unauthorized) as info:
        verify_hubspot("POST", HOOK_URL, b"[]", {}, client_secret=None, clock=clock)
    assert reason(info) == "not_configured"


# ---------------------------------------------------------------------------------------------- GoHighLevel


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def ghl_body(clock: FakeClock, webhook_id: str = "wh-1") -> bytes:
    payload = {
        "type": "ContactCreate",
        "locationId": "loc",
        "id": "c1",
        "timestamp": clock.now().isoformat(),
        "webhookId": webhook_id,
    }
    return json.dumps(payload).encode()


def test_gohighlevel_rsa_signature_accepted_and_tampering_rejected(
    clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    body = ghl_body(clock)
    signature = base64.b64encode(rsa_key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
    scheme = verify_gohighlevel(body, {"x-wh-signature": signature}, clock=clock, rsa_public_key=pem(rsa_key))
    assert scheme == "rsa"
    with pytest.raises(Unauthorized) as info:
        verify_gohighlevel(
            body.replace(b"c1", b"c2"), {"x-wh-signature": signature}, clock=clock, rsa_public_key=pem(rsa_key)
        )
    assert reason(info) == "bad_signature"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized):
        verify_gohighlevel(body, {"x-wh-signature": signature}, clock=clock, rsa_public_key=pem(other))


def test_gohighlevel_ed25519_is_preferred_and_checked(
    clock: FakeClock, rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    body = ghl_body(clock)
    headers = {
        "X-GHL-Signature": base64.b64encode(ed_key.sign(body)).decode(),
        "X-WH-Signature": base64.b64encode(rsa_key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode(),
    }
    ed_pem, rsa_pem = pem(ed_key), pem(rsa_key)
    assert (
        verify_gohighlevel(body, headers, clock=clock, ed25519_public_key=ed_pem, rsa_public_key=rsa_pem) == "ed25519"
    )
    forged = {**headers, "X-GHL-Signature": base64.b64encode(ed_key.sign(b"other body")).decode()}
    with pytest.raises(Unauthorized) as info:
        verify_gohighlevel(body, forged, clock=clock, ed25519_public_key=ed_pem, rsa_public_key=rsa_pem)
    assert reason(info) == "bad_signature"
    raw_key = base64.b64encode(
        ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert verify_gohighlevel(body, headers, clock=clock, ed25519_public_key=raw_key.decode()) == "ed25519"


def test_gohighlevel_shared_secret_missing_header_stale_and_replay(clock: FakeClock) -> None:
    body = ghl_body(clock)
    guard = InMemoryReplayGuard(clock)
    ok = {"X-Nightcrew-Webhook-Secret": "ghl-shared"}
    assert verify_gohighlevel(body, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard) == "shared_secret"
    with pytest.raises(Unauthorized) as replay:
        verify_gohighlevel(body, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard)
    assert reason(replay) == "replay"
    with pytest.raises(Unauthorized) as wrong:
        verify_gohighlevel(body, {"X-Nightcrew-Webhook-Secret": "guess"}, clock=clock, shared_secret="ghl-shared")
    assert reason(wrong) == "bad_signature"
    with pytest.raises(Unauthorized) as missing:
        verify_gohighlevel(body, {}, clock=clock, shared_secret="ghl-shared")
    assert reason(missing) == "missing_header"
    clock.advance(timedelta(hours=2))
    with pytest.raises(Unauthorized) as stale:
        verify_gohighlevel(body, ok, clock=clock, shared_secret="ghl-shared")
    assert reason(stale) == "stale_timestamp"


def test_gohighlevel_shared_secret_without_webhook_id_keys_the_replay_on_the_delivery(clock: FakeClock) -> None:
    # A workflow's Custom Webhook carries no webhookId: the same secret on every delivery must not make the
    # second, different delivery look like a replay of the first.
    def custom(contact: str) -> bytes:
        payload = {"type": "ContactCreate", "id": contact, "timestamp": clock.now().isoformat()}
        return json.dumps(payload).encode()

    guard = InMemoryReplayGuard(clock)
    ok = {"X-Nightcrew-Webhook-Secret": "ghl-shared"}
    first, second = custom("c1"), custom("c2")
    assert verify_gohighlevel(first, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard)
    clock.advance(timedelta(minutes=5))
    assert verify_gohighlevel(second, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard)
    third = custom("c1")  # the same contact again, sent later: a new delivery with its own timestamp
    assert third != first
    assert verify_gohighlevel(third, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard)
    for again in (first, second, third):
        with pytest.raises(Unauthorized) as replay:
            verify_gohighlevel(again, ok, clock=clock, shared_secret="ghl-shared", replay_guard=guard)
        assert reason(replay) == "replay"
    assert not any("ghl-shared" in key or hashlib.sha256(b"ghl-shared").hexdigest() in key for key in guard._seen)


# --------------------------------------------------------------------------------------------------- Twilio

TWILIO_DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}


def test_twilio_documented_example_reproduces() -> None:
    # Twilio's security documentation: auth token 12345, this URL and these parameters.
    assert twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    verify_twilio(
        TWILIO_DOC_URL, TWILIO_DOC_PARAMS, {"X-Twilio-Signature": "GvWf1cFY/Q7PnoempGyD5oXAezc="}, auth_tokens="12345"
    )


def test_twilio_rejects_tampered_params_wrong_token_and_missing_header() -> None:
    good = {"X-Twilio-Signature": "GvWf1cFY/Q7PnoempGyD5oXAezc="}
    with pytest.raises(Unauthorized) as tampered:
        verify_twilio(TWILIO_DOC_URL, {**TWILIO_DOC_PARAMS, "Digits": "9999"}, good, auth_tokens="12345")
    assert reason(tampered) == "bad_signature"
    with pytest.raises(Unauthorized):
        verify_twilio(TWILIO_DOC_URL, TWILIO_DOC_PARAMS, good, auth_tokens="54321")
    with pytest.raises(Unauthorized) as missing:
        verify_twilio(TWILIO_DOC_URL, TWILIO_DOC_PARAMS, {}, auth_tokens="12345")
    assert reason(missing) == "missing_header"
    # During a token rotation either token is accepted.
    verify_twilio(TWILIO_DOC_URL, TWILIO_DOC_PARAMS, good, auth_tokens=["new-token", "12345"])


def test_twilio_accepts_the_url_with_or_without_the_default_port() -> None:
    signed_with_port = twilio_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", TWILIO_DOC_PARAMS)
    verify_twilio(TWILIO_DOC_URL, TWILIO_DOC_PARAMS, {"X-Twilio-Signature": signed_with_port}, auth_tokens="12345")


def test_twilio_json_body_is_checked_through_body_sha256() -> None:
    body = b'{"event":"x"}'
    url = f"https://nightcrew.example.com/v1/hooks/twilio/acme?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {"X-Twilio-Signature": twilio_signature("tok", url)}
    verify_twilio(url, {}, headers, auth_tokens="tok", body=body)
    with pytest.raises(Unauthorized):
        verify_twilio(url, {}, headers, auth_tokens="tok", body=b'{"event":"y"}')


# -------------------------------------------------------------------------------------------------- generic


def test_generic_hmac_accepts_within_tolerance(clock: FakeClock) -> None:
    body = b'{"type":"lead.created"}'
    stamp = int(clock.now().timestamp())
    headers = sign_generic("tenant-secret", body, stamp)
    expected = hmac.new(b"tenant-secret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Nightcrew-Signature"] == f"sha256={expected}"
    clock.advance(timedelta(seconds=299))
    assert verify_generic(body, headers, secrets="tenant-secret", clock=clock) == stamp
    assert verify_generic(body, headers, secrets=["rotated-new", "tenant-secret"], clock=clock) == stamp


def test_generic_hmac_rejects_stale_future_bad_and_missing(clock: FakeClock) -> None:
    body = b"{}"
    now = int(clock.now().timestamp())
    cases = {
        "stale_timestamp": sign_generic("s", body, now - 301),
        "bad_signature": {**sign_generic("s", body, now), "X-Nightcrew-Signature": "sha256=" + "0" * 64},
        "missing_header": {"X-Nightcrew-Timestamp": str(now)},
    }
    for expected, headers in cases.items():
        with pytest.raises(Unauthorized) as info:
            verify_generic(body, headers, secrets="s", clock=clock)
        assert reason(info) == expected
    with pytest.raises(Unauthorized) as future:
        verify_generic(body, sign_generic("s", body, now + 400), secrets="s", clock=clock)
    assert "in the future" in future.value.message


def test_generic_hmac_replay_is_rejected_until_the_window_closes(clock: FakeClock) -> None:
    guard = InMemoryReplayGuard(clock)
    body = b'{"id":"evt-1"}'
    headers = sign_generic("s", body, int(clock.now().timestamp()))
    verify_generic(body, headers, secrets="s", clock=clock, replay_guard=guard)
    with pytest.raises(Unauthorized) as info:
        verify_generic(body, headers, secrets="s", clock=clock, replay_guard=guard)
    assert reason(info) == "replay"
    fresh = sign_generic("s", body, int(clock.now().timestamp()) + 1)
    verify_generic(body, fresh, secrets="s", clock=clock, replay_guard=guard)
    clock.advance(timedelta(seconds=400))
    # Past the window the stored key may expire: the timestamp check now rejects the copy on its own.
    with pytest.raises(Unauthorized) as late:
        verify_generic(body, headers, secrets="s", clock=clock, replay_guard=guard)
    assert reason(late) == "stale_timestamp"
    assert guard.first_use("probe", clock.now() + timedelta(seconds=1))
    assert len(guard._seen) == 1
