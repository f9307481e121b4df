"""Webhooks through the HTTP API and the workflows: HubSpot and GoHighLevel leads written back, SMS over Twilio."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.fakes.crm_servers import FakeGoHighLevel, FakeHubSpot, FakeTwilio
from tests.integrations.helpers import PLAYBOOK_CRM
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.channels.repository import OutboxRepository
from nightcrew.db import transaction
from nightcrew.events.adapters.generic import sign_generic
from nightcrew.events.adapters.twilio import twilio_signature
from nightcrew.observe.service import AuditQueries

PUBLIC = "https://nightcrew.example.com"
# The write-back note: the decision and its reason, then the marker that lets a retry see it is already there.
NOTE_TEXT = (
    "nightcrew: segment warm (no active lead model: playbook default segment); "
    "first message sent (first_touch_warm, {language})\n\n"
)
NOTE = re.compile(r"nightcrew: segment warm .*\n\n\[nightcrew:[0-9a-f]{16}\]", re.DOTALL)


def _playbook(tmp_path: Path, preference: list[str] | None = None) -> Path:
    crm = yaml.safe_load(PLAYBOOK_CRM)["crm"]

    def edit(data: dict[str, Any]) -> None:
        data["crm"] = crm
        if preference:
            data["channels"]["preference"] = preference

    return custom_playbook(tmp_path / "pb", edit)


def _client(env: Env) -> TestClient:
    return TestClient(create_app(env.container.settings, container=env.container))


def _wait_all(slug: str) -> None:
    for status in DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False):
        if status.workflow_id.startswith(f"{slug}:"):
            DBOS.retrieve_workflow(status.workflow_id).get_result()


def _delivery(env: Env, tenant_id: int, sid: str) -> tuple[str, str | None]:
    """The outbox row's own status and the provider's delivery status, for the message Twilio knows as sid."""
    with transaction(env.container.sessions) as session:
        message = OutboxRepository(session, tenant_id).by_provider_id(sid)
        assert message is not None
        return message.status, message.delivery_status


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    server = FakeHubSpot()
    server.start()
    yield server
    server.stop()


def test_hubspot_contact_creation_runs_the_lead_workflow_and_writes_back(
    env: Env, tmp_path: Path, hubspot: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_HUBSPOT_TOKEN", hubspot.token)
    monkeypatch.setenv("ACME_HUBSPOT_SECRET", "hubspot-client-secret")
    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}h",
        "HubSpot tenant",
        _playbook(tmp_path),
        {
            "crm": "hubspot",
            "hubspot_token_env": "ACME_HUBSPOT_TOKEN",
            "hubspot_client_secret_env": "ACME_HUBSPOT_SECRET",
            "hubspot_base_url": hubspot.url,
            "public_base_url": PUBLIC,
        },
    )
    now = env.clock.now()
    hubspot.add_contact(
        "101",
        {
            "firstname": "Ana",
            "lastname": "Gómez",
            "email": "ana@example.com",
            "phone": "+52 55 1234 5678",
            "hs_language": "es",
            "city": "Ciudad de México",
            "child_age": "9",
            "inquiry_type": "Coding course",
            "lifecyclestage": "lead",
        },
        created=now,
        updated=now,
    )
    occurred = int(now.timestamp() * 1000)
    body = json.dumps(
        [
            {
                "eventId": 3816279480,
                "subscriptionType": "contact.creation",
                "objectId": 101,
                "occurredAt": occurred,
                "portalId": 62515,
                "appId": 1160452,
                "subscriptionId": 25,
                "attemptNumber": 0,
                "changeSource": "CRM_UI",
            }
        ]
    ).encode()
    path = f"/v1/hooks/hubspot/{tenant.slug}"
    stamp = str(int(now.timestamp() * 1000))
    signature = base64.b64encode(
        hmac.new(
            b"hubspot-client-secret", b"POST" + f"{PUBLIC}{path}".encode() + body + stamp.encode(), hashlib.sha256
        ).digest()
    ).decode()
    headers = {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    with _client(env) as client:
        assert (
            client.post(path, content=body, headers={**headers, "X-HubSpot-Signature-v3": "forged"}).status_code == 401
        )
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert [e["id"] for e in response.json()["accepted"]] == [f"hubspot-contact-101-{occurred}"]
        assert client.post(path, content=body, headers=headers).status_code == 401  # a replay
        _wait_all(tenant.slug)
    # Every request HubSpot received, in order: the contact fetched once (the webhook carries only its id),
    # the segment written, the timeline looked at for our note, and the note created once.
    received = [(c.method, c.target, c.json) for c in hubspot.calls()]
    properties = "firstname,lastname,email,phone,hs_language,city,child_age,inquiry_type,asked_price"
    properties += ",createdate,lastmodifieddate,lifecyclestage"
    assert received[:3] == [
        ("GET", "/crm/v3/objects/contacts/101?" + urlencode({"properties": properties}), None),
        ("PATCH", "/crm/v3/objects/contacts/101", {"properties": {"nightcrew_segment": "warm"}}),
        ("GET", "/crm/v4/objects/contacts/101/associations/notes?limit=500", None),
    ]
    assert len(received) == 4
    method, target, note = received[3]
    assert (method, target) == ("POST", "/crm/v3/objects/notes")
    assert note["associations"] == [
        {"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
    ]
    assert note["properties"]["hs_timestamp"] == "2026-03-02T15:00:00.000Z"
    text = note["properties"]["hs_note_body"]
    assert text.startswith(NOTE_TEXT.format(language="es")) and NOTE.fullmatch(text), text
    with transaction(env.container.sessions) as session:
        timeline = AuditQueries().timeline(session, tenant.id, "hubspot:101")
    kinds = [i["action"]["kind"] for i in timeline["items"] if i["type"] == "action"]
    assert "message.sent" in kinds and kinds[-1] == "crm.written"


def test_gohighlevel_contact_create_runs_the_lead_workflow_and_writes_back(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ghl = FakeGoHighLevel()
    ghl.start()
    try:
        key = ed25519.Ed25519PrivateKey.generate()
        pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        monkeypatch.setenv("ACME_GHL_TOKEN", ghl.token)
        monkeypatch.setenv("ACME_GHL_KEY", pem)
        tenant = env.container.ensure_tenant(
            f"{env.tenant.slug}g",
            "GHL tenant",
            _playbook(tmp_path),
            {
                "crm": "gohighlevel",
                "ghl_token_env": "ACME_GHL_TOKEN",
                "ghl_location_id": ghl.location_id,
                "ghl_webhook_ed25519_public_key_env": "ACME_GHL_KEY",
                "ghl_base_url": ghl.url,
            },
        )
        now = env.clock.now().astimezone(UTC)
        ghl.add_contact(
            {
                "id": "nmFmQEsNgz6AVpgLVUJ0",
                "locationId": ghl.location_id,
                "firstName": "João",
                "lastName": "Silva",
                "phone": "+5511912345678",
                "tags": ["instagram"],
            }
        )
        payload = {
            "type": "ContactCreate",
            "locationId": ghl.location_id,
            "id": "nmFmQEsNgz6AVpgLVUJ0",
            "firstName": "João",
            "lastName": "Silva",
            "email": "joao.silva@example.com",
            "phone": "+5511912345678",
            "city": "São Paulo",
            "timezone": "America/Sao_Paulo",
            "source": "instagram form",
            "customFields": [{"id": "Xq7Ch1dAge", "value": "10"}],
            "dateAdded": now.isoformat().replace("+00:00", "Z"),
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "webhookId": "c8a4a1a4-7f0e-4d5c-b1e2-1f3e9e2f0a11",
        }
        body = json.dumps(payload).encode()
        headers = {"X-GHL-Signature": base64.b64encode(key.sign(body)).decode(), "Content-Type": "application/json"}
        with _client(env) as client:
            path = f"/v1/hooks/gohighlevel/{tenant.slug}"
            assert client.post(path, content=body, headers={"Content-Type": "application/json"}).status_code == 401
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 200 and len(response.json()["accepted"]) == 1, response.text
            _wait_all(tenant.slug)
        received = [(c.method, c.target, c.json) for c in ghl.calls()]
        with transaction(env.container.sessions) as session:
            timeline = AuditQueries().timeline(session, tenant.id, "ghl:nmFmQEsNgz6AVpgLVUJ0")
        written = [
            i["action"] for i in timeline["items"] if i["type"] == "action" and i["action"]["kind"] == "crm.written"
        ]
        assert written, [i["event"]["error"] for i in timeline["items"] if i["type"] == "event"]
        # Every request GoHighLevel received, in order: the contact read for its tags, the segment tag added,
        # the notes looked at for ours, and the note written once.
        contact = "/contacts/nmFmQEsNgz6AVpgLVUJ0"
        assert received[:3] == [
            ("GET", contact, None),
            ("POST", f"{contact}/tags", {"tags": ["segment:warm"]}),
            ("GET", f"{contact}/notes", None),
        ]
        assert len(received) == 4
        method, target, note = received[3]
        assert (method, target, list(note)) == ("POST", f"{contact}/notes", ["body"])
        assert note["body"].startswith(NOTE_TEXT.format(language="pt")) and NOTE.fullmatch(note["body"])
        for call in ghl.calls():
            assert call.headers["authorization"] == f"Bearer {ghl.token}" and call.headers["version"] == "2021-07-28"
    finally:
        ghl.stop()


def test_sms_through_twilio_with_a_delivery_callback_and_an_inbound_reply(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio = FakeTwilio()
    twilio.start()
    try:
        monkeypatch.setenv("ACME_TWILIO_TOKEN", twilio.auth_token)
        tenant = env.container.ensure_tenant(
            f"{env.tenant.slug}t",
            "Twilio tenant",
            _playbook(tmp_path, ["sms"]),
            {
                "twilio_account_sid": twilio.account_sid,
                "twilio_auth_token_env": "ACME_TWILIO_TOKEN",
                "twilio_from_number": "+15005550006",
                "twilio_base_url": twilio.url,
                "public_base_url": PUBLIC,
            },
        )
        env.container.transports_overridden = False  # this tenant's SMS goes through Twilio
        event = {
            "id": "sms-1",
            "type": "lead.created",
            "occurred_at": env.clock.now().isoformat(),
            "contact": {"external_id": "sms-c1", "name": "Ana", "phone": "+573001234567", "location": "Bogotá"},
        }
        from nightcrew.workflows.dispatch import ingest

        report = ingest(env.container, tenant, [event], source="test")
        assert DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()["status"] == "done"
        [sent] = twilio.calls("POST")
        assert sent.form["To"] == "+573001234567" and sent.form["From"] == "+15005550006"
        callback_url = sent.form["StatusCallback"]
        assert callback_url.startswith(f"{PUBLIC}/v1/hooks/twilio/{tenant.slug}")
        [sid] = list(twilio.messages)
        assert _delivery(env, tenant.id, sid) == ("sent", None)
        params = {
            "MessageSid": sid,
            "MessageStatus": "delivered",
            "AccountSid": twilio.account_sid,
            "To": "+573001234567",
            "From": "+15005550006",
        }
        signature = twilio_signature(twilio.auth_token, callback_url, list(params.items()))
        path_and_query = callback_url.removeprefix(PUBLIC)
        with _client(env) as client:
            bad = client.post(
                path_and_query, content=urlencode(params), headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert bad.status_code == 401
            forged = client.post(
                path_and_query,
                content=urlencode({**params, "MessageStatus": "failed"}),
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            )
            assert forged.status_code == 401 and _delivery(env, tenant.id, sid) == ("sent", None)
            # Twilio's own callback, signed by the fake over the public URL the message named.
            ok = twilio.fire_status(sid, "delivered", client=client, public_base=PUBLIC)
            assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
            assert _delivery(env, tenant.id, sid) == ("sent", "delivered")  # the callback moved it forward
            inbound = {
                "MessageSid": "SMin1",
                "From": "+573001234567",
                "To": "+15005550006",
                "Body": "hola, cuánto cuesta?",
                "AccountSid": twilio.account_sid,
                "NumMedia": "0",
            }
            url = f"{PUBLIC}/v1/hooks/twilio/{tenant.slug}"
            reply = client.post(
                f"/v1/hooks/twilio/{tenant.slug}",
                content=urlencode(inbound),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(twilio.auth_token, url, list(inbound.items())),
                },
            )
            assert reply.status_code == 200
            _wait_all(tenant.slug)
        with transaction(env.container.sessions) as session:
            timeline = AuditQueries().timeline(session, tenant.id, "sms-c1")
        messages = [i["message"] for i in timeline["items"] if i["type"] == "message"]
        assert messages[0]["status"] == "sent"
        events = [i["event"]["type"] for i in timeline["items"] if i["type"] == "event"]
        assert events == ["lead.created", "message.received"]  # the reply found the contact by phone
        first, answer = twilio.calls("POST")  # and was answered over SMS, once
        assert (answer.form["To"], answer.form["From"]) == ("+573001234567", "+15005550006")
        assert answer.form["Body"] != first.form["Body"]
        assert _delivery(env, tenant.id, sid) == ("sent", "delivered")
    finally:
        twilio.stop()


def test_generic_hmac_webhook_accepts_signed_refuses_stale_and_replayed(env: Env) -> None:
    env.container.settings.webhook_signing_secrets = [__import__("pydantic").SecretStr("s3cret")]
    env.container.settings.default_tenant = env.tenant.slug
    body = json.dumps(
        {
            "id": "gh-1",
            "type": "lead.created",
            "occurred_at": env.clock.now().isoformat(),
            "contact": {"external_id": "gh-c1", "phone": "+573001234567"},
        }
    ).encode()
    now = int(env.clock.now().timestamp())
    with _client(env) as client:
        path = f"/v1/hooks/events/{env.tenant.slug}"
        assert client.post(path, content=body).status_code == 401  # unsigned
        stale = client.post(path, content=body, headers=sign_generic("s3cret", body, now - 3600))
        assert stale.status_code == 401 and "old" in stale.json()["message"].lower()
        good = sign_generic("s3cret", body, now)
        assert client.post(path, content=body, headers=good).status_code == 200
        replay = client.post(path, content=body, headers=good)
        assert replay.status_code == 401 and "replay" in replay.json()["message"].lower()
        assert client.post(path, content=body, headers=sign_generic("wrong", body, now)).status_code == 401
        _wait_all(env.tenant.slug)
