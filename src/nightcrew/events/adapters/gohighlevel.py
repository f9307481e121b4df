"""GoHighLevel webhooks: signature checks, and ContactCreate / InboundMessage / OpportunityStageUpdate mapped.

GoHighLevel signs the raw body with its private key: Ed25519 in ``X-GHL-Signature`` (the current scheme) and
RSA-SHA256 (PKCS#1 v1.5) in ``X-WH-Signature`` (legacy, announced to end on 2026-07-01). Both are verified
against the public keys GoHighLevel publishes. A workflow's "Custom Webhook" action signs nothing; there a
shared secret in a custom header is the documented way, and that is accepted too when configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from nightcrew.clock import Clock
from nightcrew.crm.connectors.base import epoch_ms, parse_instant
from nightcrew.crm.connectors.gohighlevel import flatten_contact
from nightcrew.crm.mapping import CrmMapping, RecordError, external_id, lead_created_event, map_record
from nightcrew.errors import ConfigurationError, ValidationFailed
from nightcrew.events.adapters.common import AdapterResult, header, reject, same
from nightcrew.events.adapters.generic import ReplayGuard

ED25519_HEADER = "X-GHL-Signature"
RSA_HEADER = "X-WH-Signature"
DEFAULT_SECRET_HEADER = "X-Nightcrew-Webhook-Secret"
# GoHighLevel re-delivers a webhook answered 429 every ~10 minutes for about 70 minutes, body unchanged.
MAX_AGE_S = 90 * 60
_CHANNELS = {
    "sms": "sms",
    "type_sms": "sms",
    "whatsapp": "whatsapp",
    "type_whatsapp": "whatsapp",
    "email": "email",
    "type_email": "email",
}
_TAG = re.compile(r"<[^>]+>")


@lru_cache(maxsize=32)
def _ed25519_key(text: str) -> ed25519.Ed25519PublicKey:
    text = text.strip()
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise ConfigurationError("the GoHighLevel Ed25519 public key is not an Ed25519 key")
            return key
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"the GoHighLevel Ed25519 public key does not load: {exc}") from exc


@lru_cache(maxsize=32)
def _rsa_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"the GoHighLevel RSA public key does not load: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("the GoHighLevel webhook public key is not an RSA key")
    return key


def _signature_bytes(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def verify_gohighlevel(
    body: bytes,
    headers: Mapping[str, str],
    *,
    clock: Clock,
    ed25519_public_key: str | None = None,
    rsa_public_key: str | None = None,
    shared_secret: str | None = None,
    secret_header: str = DEFAULT_SECRET_HEADER,
    max_age_s: float | None = MAX_AGE_S,
    replay_guard: ReplayGuard | None = None,
) -> str:
    """Accept a GoHighLevel delivery or raise Unauthorized saying why; returns the scheme that matched."""
    if not (ed25519_public_key or rsa_public_key or shared_secret):
        raise reject("not_configured", "no GoHighLevel public key or shared secret is configured for this tenant")
    scheme = _check_signature(body, headers, ed25519_public_key, rsa_public_key, shared_secret, secret_header)
    payload = _json_object(body)
    now = clock.now()
    sent = parse_instant(payload.get("timestamp")) if payload is not None else None
    if max_age_s is not None and sent is not None:
        age = (now - sent).total_seconds()
        if abs(age) > max_age_s:
            when = "old" if age > 0 else "in the future"
            raise reject(
                "stale_timestamp", f"webhook timestamp is {abs(age):.0f} s {when}; the limit is {max_age_s:.0f} s"
            )
    if replay_guard is not None:
        webhook_id = payload.get("webhookId") if payload is not None else None
        # The key names the delivery: its webhookId, else the body itself (which carries the sender's timestamp).
        # Never the shared secret, which is the same on every delivery.
        key = f"gohighlevel:{webhook_id}" if webhook_id else f"gohighlevel:body:{hashlib.sha256(body).hexdigest()}"
        if not replay_guard.first_use(key, now + timedelta(seconds=(max_age_s or MAX_AGE_S) + 60)):
            raise reject("replay", "this GoHighLevel webhook was already accepted (replay)")
    return scheme


def _check_signature(
    body: bytes,
    headers: Mapping[str, str],
    ed25519_public_key: str | None,
    rsa_public_key: str | None,
    shared_secret: str | None,
    secret_header: str,
) -> str:
    ed_value = header(headers, ED25519_HEADER)
    rsa_value = header(headers, RSA_HEADER)
    if ed_value is not None and ed25519_public_key:
        signature = _signature_bytes(ed_value)
        if signature is None or len(signature) != 64:
            raise reject("bad_signature", f"{ED25519_HEADER} is not a base64 Ed25519 signature")
        try:
            _ed25519_key(ed25519_public_key).verify(signature, body)
        except InvalidSignature:
            raise reject("bad_signature", f"{ED25519_HEADER} does not match the body") from None
        return "ed25519"
    if rsa_value is not None and rsa_public_key:
        signature = _signature_bytes(rsa_value)
        if signature is None:
            raise reject("bad_signature", f"{RSA_HEADER} is not base64")
        try:
            _rsa_key(rsa_public_key).verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise reject("bad_signature", f"{RSA_HEADER} does not match the body") from None
        return "rsa"
    if shared_secret:
        given = header(headers, secret_header)
        if given is not None:
            given = given.removeprefix("Bearer ").strip()
            if not same(shared_secret, given):
                raise reject("bad_signature", f"{secret_header} does not match the shared secret")
            return "shared_secret"
    expected = [
        name
        for name, configured in (
            (ED25519_HEADER, ed25519_public_key),
            (RSA_HEADER, rsa_public_key),
            (secret_header, shared_secret),
        )
        if configured
    ]
    raise reject("missing_header", f"missing header: expected one of {', '.join(expected)}")


def parse_gohighlevel(body: bytes) -> dict[str, Any]:
    """The webhook payload as a dict, or ValidationFailed."""
    payload = _json_object(body)
    if payload is None:
        raise ValidationFailed("GoHighLevel webhook body must be a JSON object")
    if not isinstance(payload.get("type"), str):
        raise ValidationFailed("GoHighLevel webhook body has no event type")
    return payload


def gohighlevel_event_to_nightcrew(payload: Mapping[str, Any], mapping: CrmMapping, *, clock: Clock) -> AdapterResult:
    """Map one delivery to nightcrew events (ContactCreate, InboundMessage, OpportunityStageUpdate)."""
    result = AdapterResult()
    kind = str(payload.get("type"))
    if kind == "ContactCreate":
        if not payload.get("id"):
            raise ValidationFailed("ContactCreate without a contact id")
        mapped = map_record(flatten_contact(dict(payload)), mapping)
        if isinstance(mapped, RecordError):
            result.errors.append(mapped)
        else:
            result.events.append(lead_created_event(mapped, source="gohighlevel", fallback_time=clock.now()))
    elif kind == "InboundMessage":
        _inbound(payload, mapping, clock, result)
    elif kind == "OpportunityStageUpdate":
        _stage(payload, mapping, clock, result)
    else:
        result.ignored.append(f"{kind} is not mapped")
    return result


def _inbound(payload: Mapping[str, Any], mapping: CrmMapping, clock: Clock, result: AdapterResult) -> None:
    if str(payload.get("direction") or "inbound").lower() != "inbound":
        result.ignored.append("InboundMessage with direction other than inbound")
        return
    kind = str(payload.get("messageType") or payload.get("messageTypeString") or "").lower()
    channel = _CHANNELS.get(kind)
    if channel is None:
        result.ignored.append(f"InboundMessage over {payload.get('messageType')!r} is not a channel nightcrew answers")
        return
    text = str(payload.get("body") or "")
    if "html" in str(payload.get("contentType") or "").lower():
        text = html.unescape(_TAG.sub(" ", text))
    text = " ".join(text.split())
    contact_id = payload.get("contactId")
    if not contact_id or not text:
        result.ignored.append("InboundMessage without a contact or without text")
        return
    contact: dict[str, Any] = {"external_id": external_id("gohighlevel", str(contact_id), mapping)}
    sender = str(payload.get("from") or "")
    if channel in ("sms", "whatsapp") and sender.startswith("+"):
        contact["phone"] = sender
    occurred = parse_instant(payload.get("dateAdded")) or parse_instant(payload.get("timestamp")) or clock.now()
    message_id = payload.get("messageId")
    if message_id:
        event_id = f"gohighlevel-message-{message_id}"
    elif payload.get("webhookId"):
        event_id = f"gohighlevel-webhook-{payload['webhookId']}"
    else:
        event_id = f"gohighlevel-message-{payload.get('conversationId') or contact_id}-{epoch_ms(occurred)}"
    data: dict[str, Any] = {"channel": channel, "text": text[:5000]}
    if message_id:
        data["provider_message_id"] = str(message_id)
    result.events.append(
        {
            "id": event_id[:200],
            "type": "message.received",
            "occurred_at": occurred.isoformat(),
            "contact": contact,
            "data": data,
        }
    )


def _stage(payload: Mapping[str, Any], mapping: CrmMapping, clock: Clock, result: AdapterResult) -> None:
    stages = mapping.stages
    pipeline = payload.get("pipelineId")
    if stages.pipeline_id and pipeline and pipeline != stages.pipeline_id:
        result.ignored.append(f"OpportunityStageUpdate in pipeline {pipeline} (not the mapped pipeline)")
        return
    stage_id = payload.get("pipelineStageId")
    stage = stages.our_stage(str(stage_id)) if stage_id else None
    contact_id = payload.get("contactId")
    if stage is None or not contact_id:
        result.ignored.append(f"OpportunityStageUpdate to stage {stage_id!r} is not mapped")
        return
    occurred = (
        parse_instant(payload.get("timestamp"))
        or parse_instant(payload.get("dateUpdated"))
        or parse_instant(payload.get("dateAdded"))
        or clock.now()
    )
    if payload.get("webhookId"):
        event_id = f"gohighlevel-webhook-{payload['webhookId']}"
    else:
        event_id = f"gohighlevel-opportunity-{payload.get('id')}-{stage_id}-{epoch_ms(occurred)}"
    result.events.append(
        {
            "id": event_id[:200],
            "type": "stage.changed",
            "occurred_at": occurred.isoformat(),
            "contact": {"external_id": external_id("gohighlevel", str(contact_id), mapping)},
            "data": {"to": stage, "reason": f"GoHighLevel opportunity moved to stage {stage_id}"[:500]},
        }
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
