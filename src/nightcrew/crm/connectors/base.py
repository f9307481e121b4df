"""What a CRM connector is: read contacts and their history, write back what the agent decided."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

CrmName = Literal["hubspot", "gohighlevel"]


@dataclass(frozen=True)
class CrmContact:
    """One contact as the CRM holds it, flattened to ``field name -> value`` for the field mapping."""

    crm: CrmName
    id: str
    fields: Mapping[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ContactPage:
    """One page of a listing; ``next_cursor`` is opaque and None on the last page."""

    contacts: list[CrmContact]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True)
class CrmNote:
    """A note on a contact's timeline (history for backfill)."""

    id: str
    body: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class CrmStageChange:
    """One value a contact's stage property took, and when (the CRM's property history)."""

    property: str
    value: str
    at: datetime
    source: str | None = None


@dataclass(frozen=True)
class CrmUpdate:
    """What the agent decided about one contact, to be written back to the CRM.

    ``stage`` and ``team`` are nightcrew names; the connector translates them with the tenant's mapping.
    ``record_id`` is the deal (HubSpot) or opportunity (GoHighLevel) to move, when the caller knows it.
    ``idempotency_key`` marks the note so that a repeated write-back never adds a second one.
    """

    contact_id: str
    segment: str | None = None
    stage: str | None = None
    note: str | None = None
    team: str | None = None
    record_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class WriteBackResult:
    """What a write-back did, and what it could not do and why (an unmapped stage is skipped, not an error)."""

    contact_id: str
    done: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    note_id: str | None = None


class CrmConnector(Protocol):
    """A tenant's CRM: HubSpot or GoHighLevel."""

    name: CrmName

    def get_contact(self, contact_id: str) -> CrmContact: ...

    def list_contacts(self, *, since: datetime | None, cursor: str | None, limit: int = 100) -> ContactPage: ...

    def list_notes(self, contact_id: str) -> list[CrmNote]: ...

    def stage_history(self, contact_ids: list[str]) -> dict[str, list[CrmStageChange]]: ...

    def write_back(self, update: CrmUpdate) -> WriteBackResult: ...


def note_marker(idempotency_key: str) -> str:
    """A short tag appended to a note so a retried write-back can see the note is already there."""
    return f"[nightcrew:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]}]"


def from_epoch_ms(value: Any) -> datetime | None:
    """An epoch-milliseconds number or numeric string as an aware UTC datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(int(float(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_instant(value: Any) -> datetime | None:
    """An ISO-8601 string (``Z`` allowed) or epoch milliseconds as an aware UTC datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_epoch_ms(value)
    text = str(value).strip()
    if text.isdigit():
        return from_epoch_ms(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch_ms(value: datetime) -> int:
    """An aware datetime as epoch milliseconds."""
    return int(value.timestamp() * 1000)
