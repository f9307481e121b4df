"""Event shapes accepted at the edge, validated before anything is stored."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from nightcrew.guardrails.places import valid_timezone

EventType = Literal["lead.created", "message.received", "stage.changed"]
InboundChannel = Literal["sms", "whatsapp", "email"]
EVENT_TYPES: tuple[str, ...] = ("lead.created", "message.received", "stage.changed")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KEY = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$"


def _no_nul(value: str) -> str:
    # No text a person writes holds U+0000, and PostgreSQL cannot store it: refuse it here, naming the field,
    # rather than fail the whole batch at INSERT time.
    if "\x00" in value:
        raise ValueError("contains a NUL character (U+0000)")
    return value


def _storable_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (JSON has no NaN or Infinity)")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
# An intake field's value; checked before the union so that a bad value gets one clear error.
Scalar = Annotated[str | int | float | bool | None, BeforeValidator(_storable_scalar)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactIn(_In):
    """The contact an event is about, as the sender knows it."""

    external_id: Text = Field(min_length=1, max_length=200, pattern=_KEY)
    name: Text | None = Field(default=None, max_length=200)
    email: Text | None = Field(default=None, max_length=320)
    phone: Text | None = Field(default=None, max_length=40)
    language: Text | None = Field(default=None, pattern=r"^[a-z]{2}$")
    timezone: Text | None = Field(default=None, max_length=64)
    location: Text | None = Field(default=None, max_length=200)
    fields: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value.lower()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("phone must be in international format, e.g. +5215512345678") from exc
        if not phonenumbers.is_possible_number(parsed):
            raise ValueError("not a possible phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if valid_timezone(value) is None:
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", name):
                raise ValueError(f"field name {name!r} must be 1-64 letters, digits, _ . -")
        return value


class LeadCreatedData(_In):
    """Extra facts about a new lead."""

    stage: Text | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    source: Text | None = Field(default=None, max_length=100)


class MessageReceivedData(_In):
    """A message the contact sent us."""

    channel: InboundChannel
    text: Text = Field(min_length=1, max_length=5000)
    provider_message_id: Text | None = Field(default=None, max_length=200)


class StageChangedData(_In):
    """The contact moved to another pipeline stage."""

    to: Text = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    reason: Text | None = Field(default=None, max_length=500)


class _EventBase(_In):
    id: Text | None = Field(default=None, min_length=1, max_length=200, pattern=_KEY)
    occurred_at: AwareDatetime
    contact: ContactIn


class LeadCreated(_EventBase):
    """A new lead arrived."""

    type: Literal["lead.created"]
    data: LeadCreatedData = Field(default_factory=LeadCreatedData)


class MessageReceived(_EventBase):
    """The contact wrote to us."""

    type: Literal["message.received"]
    data: MessageReceivedData


class StageChanged(_EventBase):
    """The contact's pipeline stage changed outside nightcrew (e.g. in the CRM)."""

    type: Literal["stage.changed"]
    data: StageChangedData


EventIn = Annotated[LeadCreated | MessageReceived | StageChanged, Field(discriminator="type")]
_EVENT = TypeAdapter(EventIn)


class EventError(BaseModel):
    """Why one event was rejected."""

    index: int | None = None
    id: str | None = None
    errors: list[dict[str, str]]


def format_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Turn pydantic errors into {field, reason} pairs an operator can read."""
    out = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"] if p not in EVENT_TYPES]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc, reason = ["type"], f"must be one of {', '.join(EVENT_TYPES)}"
        else:
            reason = item["msg"].removeprefix("Value error, ")
        field = ".".join(loc) or "(event)"
        out.append({"field": f"{prefix}{field}", "reason": reason})
    return out


def parse_event(raw: Any) -> LeadCreated | MessageReceived | StageChanged:
    """Validate one raw event (dict) or raise pydantic's ValidationError."""
    return _EVENT.validate_python(raw)


def event_occurred_at(event: LeadCreated | MessageReceived | StageChanged) -> datetime:
    """When the event happened."""
    return event.occurred_at
