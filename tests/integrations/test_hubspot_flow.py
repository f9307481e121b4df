"""HubSpot end to end at the library level: signed webhook -> fetch -> events; write-back -> exact requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

from tests.fakes.crm_servers import FakeHubSpot
from tests.integrations.helpers import START, Sleeps

from nightcrew.clock import FakeClock
from nightcrew.crm.connectors.base import CrmUpdate, note_marker
from nightcrew.crm.connectors.hubspot import HubSpotConnector
from nightcrew.crm.mapping import CrmMapping, CrmSettings, StageMap
from nightcrew.events.adapters.hubspot import hubspot_events_to_nightcrew, parse_hubspot_events, verify_hubspot
from nightcrew.events.schemas import parse_event

SECRET = "hubspot-client-secret"
URL = "https://nightcrew.example.com/v1/hooks/hubspot/acme"
OCCURRED = int((START - timedelta(seconds=30)).timestamp() * 1000)


def delivery(*events: dict[str, object]) -> bytes:
    """A webhook body as HubSpot documents it: a JSON array of subscription events."""
    base = {"portalId": 62515, "appId": 1160452, "subscriptionId": 25, "attemptNumber": 0, "changeSource": "CRM_UI"}
    return json.dumps([{**base, **event} for event in events]).encode()


def signed(body: bytes, timestamp_ms: int) -> dict[str, str]:
    source = b"POST" + URL.encode() + body + str(timestamp_ms).encode()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode(),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
        "Content-Type": "application/json",
    }


def hub(server: FakeHubSpot, mapping: CrmMapping, clock: FakeClock, sleeps: Sleeps) -> HubSpotConnector:
    return HubSpotConnector.connect(server.token, mapping, base_url=server.url, clock=clock, sleep=sleeps)


def seed_ana(server: FakeHubSpot) -> None:
    server.add_contact(
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
            "asked_price": "true",
            "lifecyclestage": "lead",
        },
        created=START - timedelta(minutes=1),
        updated=START - timedelta(seconds=30),
    )


def test_contact_creation_webhook_becomes_a_lead_created_event(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ana(hubspot)
    body = delivery(
        {"eventId": 3816279480, "subscriptionType": "contact.creation", "objectId": 101, "occurredAt": OCCURRED}
    )
    headers = signed(body, int(clock.now().timestamp() * 1000))
    verify_hubspot("POST", URL, body, headers, client_secret=SECRET, clock=clock)
    mapping = crm_settings.for_crm("hubspot")
    result = hubspot_events_to_nightcrew(parse_hubspot_events(body), hub(hubspot, mapping, clock, sleeps), mapping)
    assert result.errors == [] and result.ignored == []
    [event] = result.events
    assert event == {
        "id": f"hubspot-contact-101-{OCCURRED}",
        "type": "lead.created",
        "occurred_at": "2026-01-05T11:59:30+00:00",
        "contact": {
            "external_id": "hubspot:101",
            "name": "Ana Gómez",
            "email": "ana@example.com",
            "phone": "+525512345678",
            "language": "es",
            "location": "Ciudad de México",
            "fields": {"child_age": 9, "inquiry_type": "coding_course", "asked_price": True},
        },
        "data": {"source": "hubspot", "stage": "new"},
    }
    assert parse_event(event).type == "lead.created"
    [fetch] = hubspot.requests
    assert fetch.brief() == ("GET", "/crm/v3/objects/contacts/101")
    assert fetch.headers["authorization"] == f"Bearer {hubspot.token}"
    assert fetch.param("properties") == (
        "firstname,lastname,email,phone,hs_language,city,child_age,inquiry_type,asked_price,createdate,lastmodifieddate,lifecyclestage"
    )


def test_write_back_sends_exactly_segment_owner_stage_and_one_note(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ana(hubspot)
    connector = hub(hubspot, crm_settings.for_crm("hubspot"), clock, sleeps)
    key = "acme:lead-hubspot-101:crm.write_back"
    update = CrmUpdate(
        contact_id="101",
        segment="hot",
        stage="trial_booked",
        team="admissions-es",
        note="Segment hot (P(enrol)=0.62): asked about the coding course for a 9-year-old; invited to a trial class.",
        idempotency_key=key,
    )
    result = connector.write_back(update)
    assert result.done == ["segment", "owner", "stage", "note"] and result.skipped == {}
    patch, associations, create = hubspot.requests
    assert patch.brief() == ("PATCH", "/crm/v3/objects/contacts/101")
    assert patch.json == {
        "properties": {"nightcrew_segment": "hot", "hubspot_owner_id": "512345", "lifecyclestage": "opportunity"}
    }
    assert associations.brief() == ("GET", "/crm/v4/objects/contacts/101/associations/notes")
    assert create.brief() == ("POST", "/crm/v3/objects/notes")
    assert create.json == {
        "properties": {
            "hs_timestamp": "2026-01-05T12:00:00.000Z",
            "hs_note_body": f"{update.note}\n\n{note_marker(key)}",
        },
        "associations": [
            {"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}
        ],
    }
    assert result.note_id == create_id(hubspot)
    # The workflow step runs again (a crash after the CRM answered): the note is found, not duplicated.
    hubspot.reset_log()
    again = connector.write_back(update)
    assert [r.brief() for r in hubspot.requests] == [
        ("PATCH", "/crm/v3/objects/contacts/101"),
        ("GET", "/crm/v4/objects/contacts/101/associations/notes"),
        ("POST", "/crm/v3/objects/notes/batch/read"),
    ]
    assert again.skipped == {"note": "already written by an earlier attempt"} and again.note_id == result.note_id
    assert len(hubspot.notes) == 1


def create_id(server: FakeHubSpot) -> str:
    [note_id] = server.notes
    return note_id


def test_unmapped_stage_and_team_are_skipped_with_reasons(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ana(hubspot)
    result = hub(hubspot, crm_settings.for_crm("hubspot"), clock, sleeps).write_back(
        CrmUpdate(contact_id="101", segment="warm", stage="lost", team="billing")
    )
    assert result.done == ["segment"]
    assert result.skipped == {
        "owner": "team 'billing' has no HubSpot owner in the mapping",
        "stage": "stage 'lost' is not mapped to a HubSpot value",
    }
    assert [(r.brief(), r.json) for r in hubspot.requests] == [
        (("PATCH", "/crm/v3/objects/contacts/101"), {"properties": {"nightcrew_segment": "warm"}})
    ]


def test_lifecycle_stage_change_becomes_stage_changed(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    body = delivery(
        {
            "eventId": 1001,
            "subscriptionType": "contact.propertyChange",
            "objectId": 101,
            "occurredAt": OCCURRED,
            "propertyName": "lifecyclestage",
            "propertyValue": "customer",
        },
        {
            "eventId": 1002,
            "subscriptionType": "contact.propertyChange",
            "objectId": 101,
            "occurredAt": OCCURRED,
            "propertyName": "lifecyclestage",
            "propertyValue": "evangelist",
        },
        {
            "eventId": 1003,
            "subscriptionType": "contact.propertyChange",
            "objectId": 101,
            "occurredAt": OCCURRED,
            "propertyName": "phone",
            "propertyValue": "+5215512345678",
        },
        {"eventId": 1004, "subscriptionType": "contact.deletion", "objectId": 102, "occurredAt": OCCURRED},
    )
    mapping = crm_settings.for_crm("hubspot")
    result = hubspot_events_to_nightcrew(parse_hubspot_events(body), hub(hubspot, mapping, clock, sleeps), mapping)
    assert result.events == [
        {
            "id": "hubspot-62515-1001",
            "type": "stage.changed",
            "occurred_at": "2026-01-05T11:59:30+00:00",
            "contact": {"external_id": "hubspot:101"},
            "data": {"to": "enrolled", "reason": "HubSpot lifecyclestage -> customer"},
        }
    ]
    assert parse_event(result.events[0]).type == "stage.changed"
    assert len(result.ignored) == 3
    assert hubspot.requests == []  # property changes carry everything needed


def test_deal_stages_map_both_ways(hubspot: FakeHubSpot, clock: FakeClock, sleeps: Sleeps) -> None:
    mapping = CrmMapping(
        stages=StageMap(
            object="deal",
            property="dealstage",
            pipeline_id="default",
            to_crm={"trial_booked": "appointmentscheduled", "enrolled": "closedwon"},
        )
    )
    seed_ana(hubspot)
    hubspot.add_deal("7001", {"dealstage": "qualifiedtobuy", "pipeline": "default"}, ["101", "102"])
    connector = hub(hubspot, mapping, clock, sleeps)
    body = delivery(
        {
            "eventId": 2001,
            "subscriptionType": "deal.propertyChange",
            "objectId": 7001,
            "occurredAt": OCCURRED,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
        }
    )
    result = hubspot_events_to_nightcrew(parse_hubspot_events(body), connector, mapping)
    assert [(e["id"], e["contact"]["external_id"], e["data"]["to"]) for e in result.events] == [
        ("hubspot-62515-2001-101", "hubspot:101", "enrolled"),
        ("hubspot-62515-2001-102", "hubspot:102", "enrolled"),
    ]
    hubspot.reset_log()
    moved = connector.write_back(CrmUpdate(contact_id="101", stage="trial_booked"))
    assert moved.done == ["stage"]
    assert [(r.brief(), r.json) for r in hubspot.requests] == [
        (("GET", "/crm/v4/objects/contacts/101/associations/deals"), None),
        (
            ("PATCH", "/crm/v3/objects/deals/7001"),
            {"properties": {"dealstage": "appointmentscheduled", "pipeline": "default"}},
        ),
    ]


def test_a_creation_that_fails_mapping_or_vanished_is_reported(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    hubspot.add_contact("103", {"firstname": "Bo", "email": "bo@", "child_age": "ten"}, created=START, updated=START)
    body = delivery(
        {"eventId": 1, "subscriptionType": "contact.creation", "objectId": 103, "occurredAt": OCCURRED},
        {"eventId": 2, "subscriptionType": "contact.creation", "objectId": 404, "occurredAt": OCCURRED},
    )
    mapping = crm_settings.for_crm("hubspot")
    result = hubspot_events_to_nightcrew(parse_hubspot_events(body), hub(hubspot, mapping, clock, sleeps), mapping)
    assert result.events == []
    [error] = result.errors
    assert error.record_id == "103" and {e.field for e in error.errors} == {
        "email -> email",
        "child_age -> fields.child_age",
    }
    assert result.ignored == ["2: contact 404 no longer exists"]
