"""Signed inbound webhooks: a generic HMAC scheme, HubSpot (v3), GoHighLevel and Twilio (messages and statuses).

Each request is verified before anything is read from it; unsigned, stale or replayed requests get 401 and
a log line. What a request carries becomes ordinary events: stored once, one durable workflow each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nightcrew.api.deps import get_container, loads_json
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.channels.service import record_delivery_status
from nightcrew.channels.twilio import parse_status_callback
from nightcrew.crm.connectors.hubspot import HubSpotConnector
from nightcrew.crm.mapping import RecordError
from nightcrew.crm.repository import ContactRepository, ImportErrors
from nightcrew.db import transaction
from nightcrew.errors import ConfigurationError, NightcrewError, PayloadTooLarge, Unauthorized, ValidationFailed
from nightcrew.events.adapters.generic import DeferredReplayClaim, verify_generic
from nightcrew.events.adapters.gohighlevel import gohighlevel_event_to_nightcrew, parse_gohighlevel, verify_gohighlevel
from nightcrew.events.adapters.hubspot import hubspot_events_to_nightcrew, parse_hubspot_events, verify_hubspot
from nightcrew.events.adapters.twilio import parse_form, twilio_inbound_event, verify_twilio
from nightcrew.events.repository import ReplayKeys
from nightcrew.workflows.dispatch import ingest

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])
log = structlog.get_logger("nightcrew.hooks")
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _body(request: Request, c: Container) -> bytes:
    limit = c.settings.max_body_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    return body


def _public_url(request: Request, c: Container, tenant: TenantRef) -> str:
    """The URL the sender signed: the public base URL behind a proxy, else the one the request reached."""
    base = c.integrations(tenant).get("public_base_url")
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{str(base).rstrip('/')}{request.url.path}{query}"


def _verified(provider: str, tenant: TenantRef, check: Any) -> None:
    """Run a verifier; a refusal is logged (without the body) and becomes 401."""
    try:
        check()
    except Unauthorized as exc:
        log.warning("webhook.rejected", provider=provider, tenant=tenant.slug, reason=exc.message)
        raise


def _replay_claim(c: Container) -> DeferredReplayClaim:
    """The verifiers' replay guard: a look now, the claim later in the transaction that stores the events."""

    def in_use(key: str) -> bool:
        with transaction(c.sessions) as session:
            return ReplayKeys(session, c.clock).in_use(key)

    return DeferredReplayClaim(in_use)


def _store(
    c: Container,
    tenant: TenantRef,
    provider: str,
    claim: DeferredReplayClaim,
    events: list[dict[str, Any]],
    *,
    source: str | None = None,
    crm: str | None = None,
    errors: Sequence[RecordError] = (),
) -> dict[str, Any]:
    """Claim the delivery's replay key, keep bad records aside and store the events, all in one transaction."""
    kept: list[dict[str, Any]] = []

    def within(session: Session) -> None:
        try:
            claim.claim(ReplayKeys(session, c.clock))
        except Unauthorized as exc:
            log.warning("webhook.rejected", provider=provider, tenant=tenant.slug, reason=exc.message)
            raise
        store = ImportErrors(session, tenant.id)
        for error in errors:
            details = [{"field": f.field, "reason": f.reason} for f in error.errors]
            store.keep(crm or provider, error.record_id, details, c.clock.now())
            kept.append({"record_id": error.record_id, "errors": details})

    result = ingest(c, tenant, events, source=source or provider, within=within).to_dict()
    return {**result, "kept_aside": kept} if crm else result


@router.post("/events/{tenant_slug}")
async def generic_hook(tenant_slug: str, request: Request, c: Container = Depends(get_container)) -> Any:
    """Events signed with the generic scheme (X-Nightcrew-Timestamp, X-Nightcrew-Signature: sha256=...)."""
    tenant = c.tenant(tenant_slug)
    body = await _body(request, c)
    secrets = list(c.integrations(tenant).webhook_secrets)
    claim = _replay_claim(c)

    def check() -> None:
        verify_generic(
            body,
            request.headers,
            secrets=secrets,
            clock=c.clock,
            tolerance_s=c.settings.webhook_tolerance_s,
            replay_guard=claim,
        )

    _verified("generic", tenant, check)
    payload = loads_json(body)
    raw = payload["events"] if isinstance(payload, dict) and "events" in payload else [payload]
    if not isinstance(raw, list) or len(raw) > c.settings.max_batch_events:
        raise ValidationFailed(f"'events' must be a list of at most {c.settings.max_batch_events} events")
    return await run_in_threadpool(lambda: _store(c, tenant, "generic", claim, raw, source="webhook"))


@router.post("/hubspot/{tenant_slug}")
async def hubspot_hook(tenant_slug: str, request: Request, c: Container = Depends(get_container)) -> Any:
    """HubSpot webhook subscriptions (contact creation, lifecycle or deal stage changes), v3-signed."""
    tenant = c.tenant(tenant_slug)
    body = await _body(request, c)
    integrations = c.integrations(tenant)
    url = _public_url(request, c, tenant)
    claim = _replay_claim(c)

    def check() -> None:
        verify_hubspot(
            request.method,
            url,
            body,
            request.headers,
            client_secret=integrations.get("hubspot_client_secret"),
            clock=c.clock,
            replay_guard=claim,
        )

    _verified("hubspot", tenant, check)

    def work() -> dict[str, Any]:
        connector = c.crm_connector(tenant)
        if not isinstance(connector, HubSpotConnector):
            raise ConfigurationError(f"tenant {tenant.slug} has no HubSpot connector: set its crm to hubspot")
        mapped = hubspot_events_to_nightcrew(
            parse_hubspot_events(body), connector, c.playbook(tenant).crm.for_crm("hubspot")
        )
        result = _store(c, tenant, "hubspot", claim, mapped.events, crm="hubspot", errors=mapped.errors)
        return {**result, "ignored": mapped.ignored}

    return await run_in_threadpool(work)


@router.post("/gohighlevel/{tenant_slug}")
async def gohighlevel_hook(tenant_slug: str, request: Request, c: Container = Depends(get_container)) -> Any:
    """GoHighLevel webhooks (ContactCreate, OpportunityStageUpdate, InboundMessage), signature-verified."""
    tenant = c.tenant(tenant_slug)
    body = await _body(request, c)
    integrations = c.integrations(tenant)
    claim = _replay_claim(c)

    def check() -> None:
        verify_gohighlevel(
            body,
            request.headers,
            clock=c.clock,
            ed25519_public_key=integrations.get("ghl_webhook_ed25519_public_key"),
            rsa_public_key=integrations.get("ghl_webhook_public_key"),
            shared_secret=integrations.get("ghl_webhook_secret"),
            replay_guard=claim,
        )

    _verified("gohighlevel", tenant, check)

    def work() -> dict[str, Any]:
        mapped = gohighlevel_event_to_nightcrew(
            parse_gohighlevel(body), c.playbook(tenant).crm.for_crm("gohighlevel"), clock=c.clock
        )
        result = _store(c, tenant, "gohighlevel", claim, mapped.events, crm="gohighlevel", errors=mapped.errors)
        return {**result, "ignored": mapped.ignored}

    # GoHighLevel retries only on 429: every verified delivery is answered 200 with what became of it.
    return await run_in_threadpool(work)


@router.post("/twilio/{tenant_slug}")
async def twilio_hook(tenant_slug: str, request: Request, c: Container = Depends(get_container)) -> Response:
    """Twilio: inbound SMS/WhatsApp (From, Body, MessageSid) and message status callbacks, X-Twilio-Signature."""
    tenant = c.tenant(tenant_slug)
    body = await _body(request, c)
    integrations = c.integrations(tenant)
    url = _public_url(request, c, tenant)
    params = parse_form(body)
    token = integrations.get("twilio_auth_token")
    _verified(
        "twilio", tenant, lambda: verify_twilio(url, params, request.headers, auth_tokens=[token] if token else [])
    )

    def work() -> None:
        form = dict(params)
        if "MessageStatus" in form or "SmsStatus" in form:
            status = parse_status_callback(params, url=url)
            with transaction(c.sessions) as session:
                record_delivery_status(session, tenant.id, status, c.clock.now(), playbook=c.playbook(tenant))
            return
        with transaction(c.sessions) as session:
            phone = form.get("From", "").split(":", 1)[-1]
            known = ContactRepository(session, tenant.id).by_phone(phone)
            external_id = known.external_id if known is not None else None
        event = twilio_inbound_event(params, received_at=c.clock.now(), external_id=external_id)
        ingest(c, tenant, [event], source="twilio")

    try:
        await run_in_threadpool(work)
    except NightcrewError as exc:
        log.warning("webhook.unusable", provider="twilio", tenant=tenant.slug, reason=exc.message)
        raise
    return Response(TWIML_EMPTY, media_type="text/xml")
