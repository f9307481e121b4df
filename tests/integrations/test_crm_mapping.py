"""Field mapping: conversions, defaults, required fields, and per-record errors that set one record aside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from nightcrew.crm.connectors.base import CrmContact
from nightcrew.crm.mapping import (
    CrmMapping,
    CrmSettings,
    FieldMap,
    MappedContact,
    RecordError,
    convert,
    crm_id_from_external,
    external_id,
    lead_created_event,
    map_record,
)
from nightcrew.events.schemas import parse_event

UPDATED = datetime(2026, 1, 4, 9, 30, tzinfo=UTC)


def hubspot_record(record_id: str = "101", **properties: object) -> CrmContact:
    base: dict[str, object] = {
        "firstname": "Ana",
        "lastname": "Gómez",
        "email": "Ana.Gomez@Example.com",
        "phone": "55 1234 5678",
        "hs_language": "es-MX",
        "city": "Ciudad de México",
        "child_age": "9",
        "inquiry_type": "coding course",
        "lifecyclestage": "marketingqualifiedlead",
    }
    base.update(properties)
    return CrmContact(crm="hubspot", id=record_id, fields=base, created_at=UPDATED, updated_at=UPDATED)


def test_hubspot_record_maps_to_a_valid_contact(crm_settings: CrmSettings) -> None:
    mapped = map_record(hubspot_record(), crm_settings.for_crm("hubspot"))
    assert isinstance(mapped, MappedContact)
    assert mapped.contact == {
        "external_id": "hubspot:101",
        "name": "Ana Gómez",
        "email": "ana.gomez@example.com",
        "phone": "+525512345678",
        "language": "es",
        "location": "Ciudad de México",
        "fields": {"child_age": 9, "inquiry_type": "coding_course", "asked_price": False},
    }
    assert mapped.stage == "engaged"
    event = lead_created_event(mapped, source="hubspot", fallback_time=UPDATED)
    assert event["id"] == f"hubspot-contact-101-{int(UPDATED.timestamp() * 1000)}"
    assert parse_event(event).contact.fields["child_age"] == 9


def test_every_bad_field_of_a_record_is_reported(crm_settings: CrmSettings) -> None:
    bad = hubspot_record("102", email="not-an-email", child_age="nine", inquiry_type="Pottery", phone="12")
    error = map_record(bad, crm_settings.for_crm("hubspot"))
    assert isinstance(error, RecordError)
    assert error.record_id == "102"
    reasons = {e.field: e.reason for e in error.errors}
    assert reasons["child_age -> fields.child_age"] == "expected a whole number, got 'nine'"
    assert reasons["inquiry_type -> fields.inquiry_type"].startswith("'Pottery' is not one of")
    assert "phone" in reasons["phone -> phone"]
    assert reasons["email -> email"] == "not an email address"
    assert error.as_dict()["errors"][0].keys() == {"field", "reason"}


def test_required_field_missing_and_default_applied(crm_settings: CrmSettings) -> None:
    ghl = crm_settings.for_crm("gohighlevel")
    record = CrmContact(crm="gohighlevel", id="g1", fields={"firstName": "Rui", "email": "rui@example.com"})
    error = map_record(record, ghl)
    assert isinstance(error, RecordError)
    assert [(e.field, e.reason) for e in error.errors] == [
        ("customFields.Xq7Ch1dAge -> fields.child_age", "required, but the CRM record has no value")
    ]
    with_age = CrmContact(
        crm="gohighlevel",
        id="g1",
        fields={"firstName": "Rui", "customFields.Xq7Ch1dAge": 11.0, "email": "rui@example.com"},
    )
    mapped = map_record(with_age, ghl)
    assert isinstance(mapped, MappedContact) and mapped.contact["fields"] == {"child_age": 11}
    assert mapped.stage is None  # GoHighLevel stages come from opportunities, not contact fields


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (FieldMap(source="x", target="fields.n", type="int"), "12", 12),
        (FieldMap(source="x", target="fields.n", type="int"), 12.0, 12),
        (FieldMap(source="x", target="fields.f", type="float"), "3,5", 3.5),
        (FieldMap(source="x", target="fields.b", type="bool"), "Sí", True),
        (FieldMap(source="x", target="fields.b", type="bool"), "não", False),
        (FieldMap(source="x", target="fields.b", type="bool"), 1, True),
        (FieldMap(source="x", target="fields.d", type="date"), "1767571200000", "2026-01-05"),
        (FieldMap(source="x", target="fields.d", type="date"), "2026-01-05T23:10:00Z", "2026-01-05"),
        (FieldMap(source="x", target="fields.d", type="date", date_format="%d/%m/%Y"), "05/01/2026", "2026-01-05"),
        (
            FieldMap(source="x", target="fields.t", type="datetime"),
            "2026-01-05T10:00:00-05:00",
            "2026-01-05T15:00:00+00:00",
        ),
        (FieldMap(source="x", target="fields.e", type="enum", values={"Yes": 1, "*": 0}), " other ", 0),
        (FieldMap(source="x", target="language", type="language"), "pt_BR", "pt"),
        (FieldMap(source="x", target="phone", type="phone", region="BR"), "(11) 91234-5678", "+5511912345678"),
        (FieldMap(source="x", target="fields.s"), ["a", "b"], "a, b"),
    ],
)
def test_conversions(field: FieldMap, raw: object, expected: object) -> None:
    assert convert(raw, field) == expected


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        (FieldMap(source="x", target="fields.n", type="int"), "12.5"),
        (FieldMap(source="x", target="fields.n", type="int"), True),
        (FieldMap(source="x", target="fields.b", type="bool"), "maybe"),
        (FieldMap(source="x", target="fields.d", type="date"), "next tuesday"),
        (FieldMap(source="x", target="language", type="language"), "Spanish"),
        (FieldMap(source="x", target="phone", type="phone"), "55 1234 5678"),
    ],
)
def test_conversions_that_fail_say_why(field: FieldMap, raw: object) -> None:
    with pytest.raises(ValueError, match=r".+"):
        convert(raw, field)


def test_mapping_config_is_validated() -> None:
    with pytest.raises(ValidationError, match=r"fields\.<intake_key>"):
        FieldMap(source="x", target="favourite_colour")
    with pytest.raises(ValidationError, match="needs `values`"):
        FieldMap(source="x", target="fields.kind", type="enum")
    with pytest.raises(ValidationError, match="mapped once"):
        CrmMapping(fields=[FieldMap(source="a", target="email"), FieldMap(source="b", target="email")])
    with pytest.raises(ValidationError, match="not a nightcrew stage name"):
        CrmSettings.model_validate({"hubspot": {"stages": {"to_crm": {"Trial Booked": "opportunity"}}}})
    with pytest.raises(ValidationError, match="extra"):
        CrmSettings.model_validate({"hubspot": {"feilds": []}})


def test_external_ids_round_trip_and_unknown_stages_are_listed(crm_settings: CrmSettings) -> None:
    mapping = crm_settings.for_crm("gohighlevel")
    assert external_id("gohighlevel", "abc", mapping) == "ghl:abc"
    assert crm_id_from_external("gohighlevel", "ghl:abc", mapping) == "abc"
    assert crm_id_from_external("gohighlevel", "hubspot:abc", mapping) is None
    assert crm_settings.unknown_stages({"new", "engaged", "trial_booked"}) == ["enrolled"]
