"""Events in; their status and the contact's timeline out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nightcrew.api.auth import Principal
from nightcrew.api.deps import get_container, principal, read_json
from nightcrew.bootstrap import Container
from nightcrew.db import transaction
from nightcrew.errors import ValidationFailed
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows.dispatch import ingest

router = APIRouter(prefix="/v1", tags=["events"])


@router.post("/events", status_code=202)
async def post_events(
    request: Request, response: Response, who: Principal = Depends(principal), c: Container = Depends(get_container)
) -> Any:
    """Accept one event or {"events": [...]}; each is stored once and runs as its own durable workflow."""
    who.require("events:write")
    body = await read_json(request)
    batch = isinstance(body, dict) and "events" in body
    raw = body["events"] if batch else [body]
    if not isinstance(raw, list):
        raise ValidationFailed("'events' must be a list of events")
    if len(raw) > c.settings.max_batch_events:
        raise ValidationFailed(f"at most {c.settings.max_batch_events} events per request, got {len(raw)}")
    report = await run_in_threadpool(ingest, c, who.tenant, raw, source="api")
    if not batch:
        if report.rejected:
            raise ValidationFailed("the event is malformed", details=report.rejected[0].errors)
        if report.duplicates:
            response.status_code = 200
            with transaction(c.sessions) as session:
                existing = AuditQueries().event_with_actions(session, who.tenant.id, report.duplicates[0].key)
            return {**existing, "duplicate": True}
        accepted = report.accepted[0]
        return {"id": accepted.key, "type": accepted.type, "status": accepted.status}
    if raw and not report.accepted and not report.duplicates:
        return JSONResponse(
            {"error": "validation_failed", "message": "every event was rejected", **report.to_dict()}, status_code=422
        )
    if not report.accepted and report.duplicates:
        response.status_code = 200
    return report.to_dict()


@router.get("/events/{event_id}")
def get_event(event_id: str, who: Principal = Depends(principal), c: Container = Depends(get_container)) -> Any:
    """An event's status and the actions it produced."""
    who.require("read")
    with transaction(c.sessions) as session:
        return AuditQueries().event_with_actions(session, who.tenant.id, event_id)


@router.get("/contacts/{external_id}/timeline")
def timeline(external_id: str, who: Principal = Depends(principal), c: Container = Depends(get_container)) -> Any:
    """A contact's events, decisions, messages and stage moves in time order."""
    who.require("read")
    with transaction(c.sessions) as session:
        return AuditQueries().timeline(session, who.tenant.id, external_id)
