"""GoHighLevel at the library level: documented webhook payloads -> events; write-back -> exact requests."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tests.fakes.crm_servers import FakeGoHighLevel
from tests.integrations.helpers import Sleeps

from nightcrew.clock import FakeClock
from nightcrew.crm.connectors.base import CrmUpdate, note_marker
from nightcrew.crm.connectors.gohighlevel import GoHighLevelConnector
from nightcrew.crm.connectors.http import CrmApiError, RetryPolicy
from nightcrew.crm.mapping import CrmSettings
from nightcrew.events.adapters.gohighlevel import gohighlevel_event_to_nightcrew, parse_gohighlevel, verify_gohighlevel
from nightcrew.events.schemas import parse_event

LOCATION = "ve9EPM428h8vShlRW1KT"
CONTACT_CREATE: dict[str, Any] = {
    "type": "ContactCreate",
    "locationId": LOCATION,
    "id": "nmFmQEsNgz6AVpgLVUJ0",
    "address1": "Av. Paulista 1000",
    "city": "São Paulo",
    "country": "BR",
    "source": "instagram form",
    "dateAdded": "2026-01-05T11:58:02.193Z",
    "email": "Joao.Silva@example.com",
    "name": "João Silva",
    "firstName": "João",
    "lastName": "Silva",
    "phone": "+5511912345678",
    "timezone": "America/Sao_Paulo",
    "tags": ["instagram"],
    "customFields": [{"id": "Xq7Ch1dAge", "value": "10"}],
    "timestamp": "2026-01-05T11:58:03.000Z",
    "webhookId": "c8a4a1a4-7f0e-4d5c-b1e2-1f3e9e2f0a11",
}
INBOUND_MESSAGE: dict[str, Any] = {
    "type": "InboundMessage",
    "locationId": LOCATION,
    "attachments": [],
    "body": "Olá! Quanto custa o curso de programação?",
    "contactId": "nmFmQEsNgz6AVpgLVUJ0",
    "contentType": "text/plain",
    "conversationId": "fcanlLgpbQgQhderivVs",
    "dateAdded": "2026-01-05T11:59:45.750Z",
    "direction": "inbound",
    "messageType": "SMS",
    "messageId": "m8gLSsxB9ZCQ5QKk3H2N",
    "status": "delivered",
    "from": "+5511912345678",
    "to": "+15559876543",
    "messageTypeString": "TYPE_SMS",
}
STAGE_UPDATE: dict[str, Any] = {
    "type": "OpportunityStageUpdate",
    "assignedTo": "YlWd2wuCAZQzh2cH1fVZ",
    "contactId": "nmFmQEsNgz6AVpgLVUJ0",
    "id": "Aq7l1LV6CFyp6lQ9QcBX",
    "locationId": LOCATION,
    "monetaryValue": 1000,
    "name": "João Silva",
    "pipelineId": "VDm7RPYC2GLUvdpKmBfC",
    "pipelineStageId": "stage-won",
    "source": "form",
    "status": "open",
    "dateAdded": "2026-01-05T11:00:00.000Z",
    "timestamp": "2026-01-05T11:59:50.000Z",
    "webhookId": "0b6f3c1e-opp",
}


def signed_delivery(payload: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-GHL-Signature": base64.b64encode(key.sign(body)).decode(), "Content-Type": "application/json"}


def public_pem(key: ed25519.Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_contact_create_inbound_message_and_stage_update_map_to_events(
    crm_settings: CrmSettings, clock: FakeClock
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    mapping = crm_settings.for_crm("gohighlevel")
    events = []
    for payload in (CONTACT_CREATE, INBOUND_MESSAGE, STAGE_UPDATE):
        body, headers = signed_delivery(payload, key)
        verify_gohighlevel(body, headers, clock=clock, ed25519_public_key=public_pem(key))
        result = gohighlevel_event_to_nightcrew(parse_gohighlevel(body), mapping, clock=clock)
        assert result.errors == [] and result.ignored == []
        events.extend(result.events)
    lead, message, stage = events
    assert lead == {
        "id": "gohighlevel-contact-nmFmQEsNgz6AVpgLVUJ0-1767614282193",
        "type": "lead.created",
        "occurred_at": "2026-01-05T11:58:02.193000+00:00",
        "contact": {
            "external_id": "ghl:nmFmQEsNgz6AVpgLVUJ0",
            "name": "João Silva",
            "email": "joao.silva@example.com",
            "phone": "+5511912345678",
            "timezone": "America/Sao_Paulo",
            "location": "São Paulo",
            "fields": {"child_age": 10, "source": "instagram form"},
        },
        "data": {"source": "gohighlevel"},
    }
    assert message == {
        "id": "gohighlevel-message-m8gLSsxB9ZCQ5QKk3H2N",
        "type": "message.received",
        "occurred_at": "2026-01-05T11:59:45.750000+00:00",
        "contact": {"external_id": "ghl:nmFmQEsNgz6AVpgLVUJ0", "phone": "+5511912345678"},
        "data": {
            "channel": "sms",
            "text": "Olá! Quanto custa o curso de programação?",
            "provider_message_id": "m8gLSsxB9ZCQ5QKk3H2N",
        },
    }
    assert stage["type"] == "stage.changed" and stage["data"]["to"] == "enrolled"
    assert stage["id"] == "gohighlevel-webhook-0b6f3c1e-opp"
    for event in events:
        parse_event(event)


def test_messages_nightcrew_does_not_answer_are_ignored(crm_settings: CrmSettings, clock: FakeClock) -> None:
    mapping = crm_settings.for_crm("gohighlevel")
    for change in ({"messageType": "CALL", "messageTypeString": "TYPE_CALL"}, {"direction": "outbound"}):
        result = gohighlevel_event_to_nightcrew({**INBOUND_MESSAGE, **change}, mapping, clock=clock)
        assert result.events == [] and len(result.ignored) == 1
    other_pipeline = gohighlevel_event_to_nightcrew({**STAGE_UPDATE, "pipelineId": "other"}, mapping, clock=clock)
    assert other_pipeline.events == []
    whatsapp_html = {
        **INBOUND_MESSAGE,
        "messageType": "WhatsApp",
        "contentType": "text/html",
        "body": "<p>Oi&nbsp;tudo bem?</p>",
    }
    [event] = gohighlevel_event_to_nightcrew(whatsapp_html, mapping, clock=clock).events
    assert event["data"]["channel"] == "whatsapp" and event["data"]["text"] == "Oi tudo bem?"
    missing_age = {**CONTACT_CREATE, "customFields": []}
    [error] = gohighlevel_event_to_nightcrew(missing_age, mapping, clock=clock).errors
    assert error.errors[0].reason == "required, but the CRM record has no value"


def connect(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps, **kw: Any
) -> GoHighLevelConnector:
    return GoHighLevelConnector.connect(
        ghl.token,
        ghl.location_id,
        crm_settings.for_crm("gohighlevel"),
        base_url=ghl.url,
        clock=clock,
        sleep=sleeps,
        **kw,
    )


def seed(ghl: FakeGoHighLevel) -> None:
    ghl.add_contact({**{k: v for k, v in CONTACT_CREATE.items() if k not in ("type", "timestamp", "webhookId")}})
    ghl.contacts["nmFmQEsNgz6AVpgLVUJ0"]["tags"] = ["instagram", "segment:warm"]
    ghl.add_opportunity(
        {
            "id": "Aq7l1LV6CFyp6lQ9QcBX",
            "contactId": "nmFmQEsNgz6AVpgLVUJ0",
            "pipelineId": "VDm7RPYC2GLUvdpKmBfC",
            "pipelineStageId": "stage-new",
        }
    )


def test_write_back_sends_exactly_tag_owner_stage_and_note(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed(ghl)
    key = "acme:lead-ghl:crm.write_back"
    note = "Segment hot (P(enrol)=0.71): asked the price of the coding course; trial class offered."
    update = CrmUpdate(
        contact_id="nmFmQEsNgz6AVpgLVUJ0",
        segment="hot",
        stage="trial_booked",
        team="admissions-es",
        note=note,
        idempotency_key=key,
    )
    result = connect(ghl, crm_settings, clock, sleeps).write_back(update)
    assert result.done == ["segment", "owner", "stage", "note"]
    contact = "/contacts/nmFmQEsNgz6AVpgLVUJ0"
    assert [(r.brief(), r.json) for r in ghl.requests] == [
        (("GET", contact), None),
        (("DELETE", f"{contact}/tags"), {"tags": ["segment:warm"]}),
        (("POST", f"{contact}/tags"), {"tags": ["segment:hot"]}),
        (("PUT", contact), {"assignedTo": "YlWd2wuCAZQzh2cH1fVZ"}),
        (("GET", "/opportunities/search"), None),
        (
            ("PUT", "/opportunities/Aq7l1LV6CFyp6lQ9QcBX"),
            {"pipelineStageId": "stage-trial", "pipelineId": "VDm7RPYC2GLUvdpKmBfC"},
        ),
        (("GET", f"{contact}/notes"), None),
        (("POST", f"{contact}/notes"), {"body": f"{note}\n\n{note_marker(key)}"}),
    ]
    search = ghl.requests[4]
    assert search.query == {
        "location_id": [LOCATION],
        "contact_id": ["nmFmQEsNgz6AVpgLVUJ0"],
        "pipeline_id": ["VDm7RPYC2GLUvdpKmBfC"],
    }
    assert all(r.headers["version"] == "2021-07-28" for r in ghl.requests)
    assert ghl.contacts["nmFmQEsNgz6AVpgLVUJ0"]["tags"] == ["instagram", "segment:hot"]
    assert ghl.opportunities["Aq7l1LV6CFyp6lQ9QcBX"]["pipelineStageId"] == "stage-trial"
    ghl.reset_log()
    again = connect(ghl, crm_settings, clock, sleeps).write_back(
        CrmUpdate(contact_id=update.contact_id, segment="hot", note=note, idempotency_key=key)
    )
    assert [r.brief() for r in ghl.requests] == [("GET", contact), ("GET", f"{contact}/notes")]
    assert again.skipped == {"note": "already written by an earlier attempt"}


def test_a_note_whose_answer_was_lost_is_looked_for_before_writing_again(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed(ghl)
    contact = "/contacts/nmFmQEsNgz6AVpgLVUJ0"
    # 1) The CRM failed before storing anything (502): the note is looked for, not found, written once.
    ghl.script(rf"{contact}/notes", 502, method="POST")
    first = connect(ghl, crm_settings, clock, sleeps).write_back(
        CrmUpdate(contact_id="nmFmQEsNgz6AVpgLVUJ0", note="first", idempotency_key="k1")
    )
    assert [r.brief() for r in ghl.requests] == [
        ("GET", f"{contact}/notes"),
        ("POST", f"{contact}/notes"),
        ("GET", f"{contact}/notes"),
        ("POST", f"{contact}/notes"),
    ]
    assert first.note_id and [n["body"] for n in ghl.notes["nmFmQEsNgz6AVpgLVUJ0"]] == [f"first\n\n{note_marker('k1')}"]
    # 2) The CRM stored it but the answer never came (timeout): found on the second look, not written again.
    ghl.reset_log()
    ghl.script(rf"{contact}/notes", 201, method="POST", slow_s=0.6)
    second = connect(ghl, crm_settings, clock, sleeps, timeout_s=0.2, retry=RetryPolicy(attempts=2)).write_back(
        CrmUpdate(contact_id="nmFmQEsNgz6AVpgLVUJ0", note="second", idempotency_key="k2")
    )
    assert [r.brief() for r in ghl.requests] == [
        ("GET", f"{contact}/notes"),
        ("POST", f"{contact}/notes"),
        ("GET", f"{contact}/notes"),
    ]
    assert len(ghl.notes["nmFmQEsNgz6AVpgLVUJ0"]) == 2 and second.note_id == ghl.notes["nmFmQEsNgz6AVpgLVUJ0"][1]["id"]


def test_missing_opportunity_is_skipped_or_created_when_asked(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed(ghl)
    ghl.opportunities.clear()
    skipped = connect(ghl, crm_settings, clock, sleeps).write_back(
        CrmUpdate(contact_id="nmFmQEsNgz6AVpgLVUJ0", stage="trial_booked")
    )
    assert skipped.skipped == {"stage": "the contact has no opportunity in the pipeline"}
    mapping = crm_settings.for_crm("gohighlevel")
    creating = mapping.model_copy(update={"stages": mapping.stages.model_copy(update={"create_missing": True})})
    ghl.reset_log()
    GoHighLevelConnector.connect(ghl.token, LOCATION, creating, base_url=ghl.url, sleep=sleeps).write_back(
        CrmUpdate(contact_id="nmFmQEsNgz6AVpgLVUJ0", stage="trial_booked")
    )
    create = ghl.calls("POST", r"/opportunities/")[0]
    assert create.json == {
        "pipelineId": "VDm7RPYC2GLUvdpKmBfC",
        "locationId": LOCATION,
        "name": "João Silva",
        "pipelineStageId": "stage-trial",
        "status": "open",
        "contactId": "nmFmQEsNgz6AVpgLVUJ0",
    }


def test_wrong_location_or_missing_version_are_not_retried(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    connector = GoHighLevelConnector.connect(
        ghl.token, "another-location", crm_settings.for_crm("gohighlevel"), base_url=ghl.url, sleep=sleeps
    )
    with pytest.raises(CrmApiError) as info:
        connector.list_contacts(since=None, cursor=None)
    assert info.value.http_status == 403 and "location" in info.value.message
    no_version = httpx.get(f"{ghl.url}/contacts/x", headers={"Authorization": f"Bearer {ghl.token}"})
    assert no_version.status_code == 400
    assert sleeps.waits == []
