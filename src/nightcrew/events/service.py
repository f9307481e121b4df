"""Rules for accepting events: validate each, store each once, report the rest by index."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nightcrew.events.models import Event
from nightcrew.events.repository import EventRepository
from nightcrew.events.schemas import (
    EventError,
    LeadCreated,
    MessageReceived,
    StageChanged,
    format_errors,
    parse_event,
)
from nightcrew.playbook.schemas import Playbook


@dataclass(frozen=True)
class StoredEvent:
    """An event that is in the log (new or already known)."""

    key: str
    type: str
    status: str
    workflow_id: str
    tenant_id: int
    duplicate: bool = False


@dataclass
class IngestReport:
    """What happened to each event of a request."""

    accepted: list[StoredEvent] = field(default_factory=list)
    duplicates: list[StoredEvent] = field(default_factory=list)
    rejected: list[EventError] = field(default_factory=list)
    # Workflow handles of the accepted events, once dispatched (not part of the JSON answer).
    handles: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer for the API and CLI."""
        return {
            "accepted": [{"id": e.key, "type": e.type, "status": e.status} for e in self.accepted],
            "duplicates": [{"id": e.key, "type": e.type, "status": e.status} for e in self.duplicates],
            "rejected": [r.model_dump(exclude_none=True) for r in self.rejected],
        }


def workflow_id_for(tenant_slug: str, event_key: str) -> str:
    """The durable workflow id of an event: the event id, scoped by tenant."""
    return f"{tenant_slug}:{event_key}"


def _semantic_errors(event: LeadCreated | MessageReceived | StageChanged, playbook: Playbook) -> list[dict[str, str]]:
    """Checks that need the tenant's playbook."""
    stages = [s.name for s in playbook.stages]
    errors = []
    if isinstance(event, LeadCreated) and event.data.stage and event.data.stage not in stages:
        errors.append(
            {
                "field": "data.stage",
                "reason": f"unknown stage {event.data.stage!r}; known: {', '.join(stages)}",
            }
        )
    if isinstance(event, StageChanged) and event.data.to not in stages:
        errors.append({"field": "data.to", "reason": f"unknown stage {event.data.to!r}; known: {', '.join(stages)}"})
    return errors


class EventService:
    """Store events in the log, once each."""

    def store(
        self,
        session: Session,
        *,
        tenant_id: int,
        tenant_slug: str,
        playbook: Playbook,
        raw_events: list[Any],
        now: datetime,
        source: str,
        traceparent: str | None,
        trace_id: str | None,
    ) -> IngestReport:
        """Validate and store; valid events are kept even when others in the batch are rejected."""
        report = IngestReport()
        repo = EventRepository(session, tenant_id)
        parsed: list[tuple[int, LeadCreated | MessageReceived | StageChanged, str]] = []
        for index, raw in enumerate(raw_events):
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            try:
                event = parse_event(raw)
            except ValidationError as exc:
                report.rejected.append(
                    EventError(index=index, id=raw_id if isinstance(raw_id, str) else None, errors=format_errors(exc))
                )
                continue
            problems = _semantic_errors(event, playbook)
            if problems:
                report.rejected.append(EventError(index=index, id=event.id, errors=problems))
                continue
            parsed.append((index, event, event.id or f"evt_{uuid.uuid4().hex}"))

        known = repo.by_keys([key for _, _, key in parsed])
        seen: set[str] = set()
        for _index, event, key in parsed:
            existing = known.get(key)
            if existing is not None or key in seen:
                row = existing or repo.by_key(key)
                report.duplicates.append(
                    StoredEvent(
                        key,
                        event.type,
                        row.status if row else "received",
                        workflow_id_for(tenant_slug, key),
                        tenant_id,
                        duplicate=True,
                    )
                )
                continue
            seen.add(key)
            payload = event.model_dump(mode="json", exclude_none=True)
            payload["id"] = key
            stored = repo.insert(
                Event(
                    key=key,
                    type=event.type,
                    occurred_at=event.occurred_at,
                    received_at=now,
                    updated_at=now,
                    status="received",
                    source=source,
                    contact_external_id=event.contact.external_id,
                    payload=payload,
                    workflow_id=workflow_id_for(tenant_slug, key),
                    trace_id=trace_id,
                    traceparent=traceparent,
                )
            )
            if stored is None:
                # A concurrent request stored the same id first.
                row = repo.by_key(key)
                report.duplicates.append(
                    StoredEvent(
                        key,
                        event.type,
                        row.status if row else "received",
                        workflow_id_for(tenant_slug, key),
                        tenant_id,
                        duplicate=True,
                    )
                )
                continue
            report.accepted.append(StoredEvent(key, event.type, "received", stored.workflow_id, tenant_id))
        return report
