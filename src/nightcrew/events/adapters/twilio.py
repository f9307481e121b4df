"""Twilio webhooks: the X-Twilio-Signature check, and inbound SMS/WhatsApp mapped to message.received.

The signature is base64(HMAC-SHA1(auth token, URL + every form parameter as name+value, sorted by name)).
For JSON bodies Twilio signs the URL only and puts the body's SHA-256 in the ``bodySHA256`` query parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

import phonenumbers

from nightcrew.errors import ValidationFailed
from nightcrew.events.adapters.common import header, reject, same

SIGNATURE_HEADER = "X-Twilio-Signature"
FormParams = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded body as (name, value) pairs, blanks kept (they are signed too)."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)


def _pairs(params: FormParams) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in params.items():
            if isinstance(value, str):
                pairs.append((name, value))
            else:
                pairs.extend((name, v) for v in value)
        return pairs
    return list(params)


def twilio_signature(auth_token: str, url: str, params: FormParams = ()) -> str:
    """The X-Twilio-Signature Twilio computes for a request to ``url`` with these form parameters."""
    grouped: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _url_variants(url: str) -> list[str]:
    # Twilio signs the URL as configured; proxies add or drop the default port, so both forms are tried.
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if parts.port is None and default is not None and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port is not None and parts.port == default and parts.hostname:
        netloc = parts.netloc.rsplit(":", 1)[0]
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_twilio(
    url: str,
    params: FormParams,
    headers: Mapping[str, str],
    *,
    auth_tokens: str | Sequence[str] | None,
    body: bytes | None = None,
) -> None:
    """Accept a request signed by Twilio or raise Unauthorized saying why.

    ``url`` is the public URL Twilio called, query string included; ``params`` the POSTed form fields.
    Several tokens may be given while an auth token is being rotated. Replays need no guard here: Twilio
    retries a delivery with the same MessageSid, and the event id ``twilio-<MessageSid>`` deduplicates it.
    """
    tokens = [auth_tokens] if isinstance(auth_tokens, str) else [t for t in auth_tokens or [] if t]
    if not tokens:
        raise reject("not_configured", "no Twilio auth token is configured for this tenant")
    given = header(headers, SIGNATURE_HEADER)
    if given is None:
        raise reject("missing_header", f"missing header {SIGNATURE_HEADER}")
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    form: FormParams = () if body_hash else params
    if body_hash and (body is None or not same(hashlib.sha256(body).hexdigest(), body_hash[0])):
        raise reject("bad_signature", "bodySHA256 does not match the request body")
    matched = any(
        same(twilio_signature(token, variant, form), given) for token in tokens for variant in _url_variants(url)
    )
    if not matched:
        raise reject("bad_signature", f"{SIGNATURE_HEADER} does not match the URL and parameters")


def _first(params: FormParams, name: str) -> str | None:
    for key, value in _pairs(params):
        if key == name:
            return value
    return None


def strip_channel(address: str) -> tuple[str, str]:
    """``whatsapp:+52...`` -> (whatsapp, +52...); a bare number is sms."""
    if address.lower().startswith("whatsapp:"):
        return "whatsapp", address.split(":", 1)[1]
    return "sms", address


def twilio_inbound_event(
    params: FormParams, *, received_at: datetime, external_id: str | None = None
) -> dict[str, Any]:
    """A message.received event for an inbound SMS or WhatsApp message.

    Twilio knows only the phone number: pass the contact's ``external_id`` when the lead finds the contact by
    phone; otherwise the number itself (``tel:+52...``) identifies the contact.
    """
    sid = _first(params, "MessageSid") or _first(params, "SmsSid")
    sender = _first(params, "From")
    if not sid or not sender:
        raise ValidationFailed("Twilio inbound message without MessageSid or From")
    channel, number = strip_channel(sender)
    try:
        phone = phonenumbers.format_number(phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(f"Twilio From {number!r} is not an international phone number") from exc
    text = " ".join((_first(params, "Body") or "").split())
    media = int(_first(params, "NumMedia") or "0")
    if not text:
        if media <= 0:
            raise ValidationFailed("Twilio inbound message has neither text nor media")
        text = f"[{media} attachment{'s' if media != 1 else ''}]"
    contact: dict[str, Any] = {"external_id": external_id or f"tel:{phone}", "phone": phone}
    profile = _first(params, "ProfileName")
    if channel == "whatsapp" and profile:
        contact["name"] = profile[:200]
    return {
        "id": f"twilio-{sid}",
        "type": "message.received",
        "occurred_at": received_at.isoformat(),
        "contact": contact,
        "data": {"channel": channel, "text": text[:5000], "provider_message_id": sid},
    }
