import pytest
from pydantic import ValidationError

from nightcrew.events.schemas import MessageReceived, format_errors, parse_event

BASE = {"occurred_at": "2026-03-02T15:00:00Z", "contact": {"external_id": "c-1"}}


def errors_of(raw: dict[str, object]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_event(raw)
    return format_errors(info.value)


def test_unknown_type_names_the_field() -> None:
    assert errors_of({**BASE, "type": "lead.deleted"}) == [
        {"field": "type", "reason": "must be one of lead.created, message.received, stage.changed"}
    ]


def test_naive_timestamp_and_bad_email_are_named() -> None:
    found = errors_of(
        {
            "type": "lead.created",
            "occurred_at": "2026-03-02T15:00:00",
            "contact": {"external_id": "c", "email": "x"},
        }
    )
    fields = {e["field"] for e in found}
    assert fields == {"occurred_at", "contact.email"}


def test_phone_is_normalised_to_e164() -> None:
    event = parse_event({**BASE, "type": "lead.created", "contact": {"external_id": "c", "phone": "+52 55 1234 5678"}})
    assert event.contact.phone == "+525512345678"


def test_message_needs_channel_and_text() -> None:
    found = errors_of({**BASE, "type": "message.received", "data": {"channel": "fax"}})
    assert {e["field"] for e in found} == {"data.channel", "data.text"}


def test_valid_message() -> None:
    event = parse_event({**BASE, "type": "message.received", "data": {"channel": "whatsapp", "text": "hola"}})
    assert isinstance(event, MessageReceived)


def test_unknown_timezone_and_extra_keys_rejected() -> None:
    found = errors_of(
        {
            **BASE,
            "type": "lead.created",
            "contact": {"external_id": "c", "timezone": "Mars/Base"},
            "surprise": 1,
        }
    )
    assert {e["field"] for e in found} == {"contact.timezone", "surprise"}
