"""Event payloads for tests."""

from __future__ import annotations

from typing import Any


def lead(
    event_id: str | None, external_id: str, *, occurred_at: str = "2026-03-02T15:00:00Z", **contact: Any
) -> dict[str, Any]:
    """A lead.created event for a Colombian parent unless told otherwise."""
    body: dict[str, Any] = {
        "type": "lead.created",
        "occurred_at": occurred_at,
        "contact": {
            "external_id": external_id,
            "name": "Ana Gómez",
            "phone": "+573001234567",
            "location": "Bogotá, Colombia",
            "fields": {"child_age": 9, "inquiry_type": "coding_course"},
            **contact,
        },
    }
    if event_id is not None:
        body["id"] = event_id
    return body


def message(
    event_id: str,
    external_id: str,
    text: str,
    *,
    occurred_at: str = "2026-03-02T15:00:00Z",
    channel: str = "whatsapp",
) -> dict[str, Any]:
    """A message.received event."""
    return {
        "id": event_id,
        "type": "message.received",
        "occurred_at": occurred_at,
        "contact": {"external_id": external_id},
        "data": {"channel": channel, "text": text},
    }


def stage(event_id: str, external_id: str, to: str, *, occurred_at: str = "2026-03-02T15:00:00Z") -> dict[str, Any]:
    """A stage.changed event."""
    return {
        "id": event_id,
        "type": "stage.changed",
        "occurred_at": occurred_at,
        "contact": {"external_id": external_id},
        "data": {"to": to},
    }
