"""HubSpot webhooks: the v3 request signature, and subscription events mapped to nightcrew events.

A delivery is a JSON array of events such as ``contact.creation``, ``contact.propertyChange`` and
``deal.propertyChange``. They carry only ids, so a contact creation is completed by fetching the contact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from nightcrew.clock import Clock
from nightcrew.crm.connectors.base import CrmContact, from_epoch_ms
from nightcrew.crm.mapping import CrmMapping, RecordError, external_id, lead_created_event, map_record
from nightcrew.errors import NotFound, ValidationFailed
from nightcrew.events.adapters.common import AdapterResult, header, reject, same
from nightcrew.events.adapters.generic import ReplayGuard

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_S = 300
# HubSpot decodes these percent-escapes in the URI before signing (and leaves the rest encoded).
_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_request_uri(url: str) -> str:
    """The URI as HubSpot signs it: the full URL called, with the listed escapes decoded."""
    for escaped, plain in _DECODE.items():
        url = url.replace(escaped, plain).replace(escaped.lower(), plain)
    return url


def hubspot_v3_signature(client_secret: str, method: str, url: str, body: bytes, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(client secret, method + uri + body + timestamp))."""
    message = method.upper().encode() + hubspot_request_uri(url).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(client_secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot(
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    client_secret: str | None,
    clock: Clock,
    max_age_s: float = MAX_AGE_S,
    replay_guard: ReplayGuard | None = None,
) -> None:
    """Accept a v3-signed HubSpot request or raise Unauthorized saying why.

    ``url`` is the public URL HubSpot called (scheme, host, path and query), not what a proxy forwarded.
    """
    if not client_secret:
        raise reject("not_configured", "no HubSpot client secret is configured for this tenant")
    given = header(headers, SIGNATURE_HEADER)
    if given is None:
        raise reject("missing_header", f"missing header {SIGNATURE_HEADER}")
    stamp = header(headers, TIMESTAMP_HEADER)
    if stamp is None:
        raise reject("missing_header", f"missing header {TIMESTAMP_HEADER}")
    try:
        timestamp_ms = int(stamp)
    except ValueError:
        raise reject("stale_timestamp", f"{TIMESTAMP_HEADER} must be epoch milliseconds") from None
    if not same(hubspot_v3_signature(client_secret, method, url, body, timestamp_ms), given):
        raise reject("bad_signature", f"{SIGNATURE_HEADER} does not match the request")
    now = clock.now()
    age = now.timestamp() - timestamp_ms / 1000
    if age > max_age_s or age < -max_age_s:
        when = "old" if age > 0 else "in the future"
        raise reject("stale_timestamp", f"request timestamp is {abs(age):.0f} s {when}; the limit is {max_age_s:.0f} s")
    if replay_guard is not None:
        expires = now + timedelta(seconds=max_age_s - age + 1)
        if not replay_guard.first_use(f"hubspot:{given}", expires):
            raise reject("replay", "this signed HubSpot request was already accepted (replay)")


@dataclass(frozen=True)
class HubSpotEvent:
    """One subscription event of a HubSpot webhook delivery."""

    event_id: str
    subscription_type: str
    object_id: str
    portal_id: str
    occurred_at: datetime
    property_name: str | None = None
    property_value: str | None = None
    change_source: str | None = None
    attempt_number: int = 0


def parse_hubspot_events(body: bytes) -> list[HubSpotEvent]:
    """Parse a delivery (a JSON array of events) or raise ValidationFailed."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed("HubSpot webhook body is not JSON") from exc
    if not isinstance(payload, list):
        raise ValidationFailed("HubSpot webhook body must be a JSON array of events")
    events = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise ValidationFailed(f"HubSpot event {index} is not an object")
        missing = [k for k in ("eventId", "subscriptionType", "objectId", "occurredAt") if item.get(k) in (None, "")]
        if missing:
            raise ValidationFailed(f"HubSpot event {index} lacks {', '.join(missing)}")
        occurred = from_epoch_ms(item["occurredAt"])
        if occurred is None:
            raise ValidationFailed(f"HubSpot event {index}: occurredAt must be epoch milliseconds")
        value = item.get("propertyValue")
        events.append(
            HubSpotEvent(
                event_id=str(item["eventId"]),
                subscription_type=str(item["subscriptionType"]),
                object_id=str(item["objectId"]),
                portal_id=str(item.get("portalId", "")),
                occurred_at=occurred,
                property_name=item.get("propertyName"),
                property_value=None if value is None else str(value),
                change_source=item.get("changeSource"),
                attempt_number=int(item.get("attemptNumber") or 0),
            )
        )
    return events


class HubSpotLookup(Protocol):
    """What mapping needs from the connector: the contact behind an id, the contacts behind a deal."""

    def get_contact(self, contact_id: str) -> CrmContact: ...

    def deal_contact_ids(self, deal_id: str) -> list[str]: ...


def hubspot_events_to_nightcrew(
    events: Sequence[HubSpotEvent], lookup: HubSpotLookup, mapping: CrmMapping
) -> AdapterResult:
    """Map a delivery: creations become lead.created (after a fetch), stage changes become stage.changed."""
    result = AdapterResult()
    stages = mapping.stages
    for event in events:
        kind = event.subscription_type
        if kind == "contact.creation":
            _creation(event, lookup, mapping, result)
        elif kind == "contact.propertyChange" and stages.object == "contact" and event.property_name == stages.property:
            _stage_change(event, [event.object_id], mapping, result)
        elif kind == "deal.propertyChange" and stages.object == "deal" and event.property_name == stages.property:
            _stage_change(event, lookup.deal_contact_ids(event.object_id), mapping, result)
        else:
            detail = f" of {event.property_name}" if event.property_name else ""
            result.ignored.append(f"{event.event_id}: {kind}{detail} is not mapped")
    return result


def _creation(event: HubSpotEvent, lookup: HubSpotLookup, mapping: CrmMapping, result: AdapterResult) -> None:
    try:
        contact = lookup.get_contact(event.object_id)
    except NotFound:
        result.ignored.append(f"{event.event_id}: contact {event.object_id} no longer exists")
        return
    mapped = map_record(contact, mapping)
    if isinstance(mapped, RecordError):
        result.errors.append(mapped)
        return
    result.events.append(lead_created_event(mapped, source="hubspot", fallback_time=event.occurred_at))


def _stage_change(event: HubSpotEvent, contact_ids: list[str], mapping: CrmMapping, result: AdapterResult) -> None:
    stage = mapping.stages.our_stage(event.property_value)
    if stage is None:
        result.ignored.append(f"{event.event_id}: {event.property_name}={event.property_value!r} is not mapped")
        return
    if not contact_ids:
        result.ignored.append(f"{event.event_id}: {event.subscription_type} has no associated contact")
        return
    for contact_id in contact_ids:
        suffix = f"-{contact_id}" if event.subscription_type.startswith("deal.") else ""
        body: dict[str, Any] = {
            "id": f"hubspot-{event.portal_id or 'portal'}-{event.event_id}{suffix}",
            "type": "stage.changed",
            "occurred_at": event.occurred_at.isoformat(),
            "contact": {"external_id": external_id("hubspot", contact_id, mapping)},
            "data": {"to": stage, "reason": f"HubSpot {event.property_name} -> {event.property_value}"[:500]},
        }
        result.events.append(body)
