"""``create_app(settings)``: the FastAPI application, its error handling and middleware."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from nightcrew.api.auth import Principal, RateLimiter, authenticate, bearer_token
from nightcrew.bootstrap import Container, build_container
from nightcrew.config import Settings
from nightcrew.db import transaction
from nightcrew.errors import NightcrewError, PayloadTooLarge, RateLimited, ValidationFailed
from nightcrew.observe.metrics import REGISTRY
from nightcrew.observe.service import AuditQueries
from nightcrew.observe.tracing import current_trace_id, tracer
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest


def create_app(
    settings: Settings | None = None, *, container: Container | None = None, start_worker: bool = False
) -> FastAPI:
    """Build the API; with ``start_worker`` the process also runs DBOS and consumes the queues."""
    settings = settings or Settings()
    owned = container is None
    c = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # DBOS refuses its blocking set-up calls on a thread that runs an event loop.
        if start_worker:
            await run_in_threadpool(runtime.launch, c)
        yield
        if start_worker:
            await run_in_threadpool(runtime.shutdown)
        if owned:
            c.close()

    app = FastAPI(title="nightcrew", version="1", lifespan=lifespan)
    app.state.container = c

    @app.exception_handler(NightcrewError)
    async def _nightcrew_error(_request: Request, exc: NightcrewError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))} if isinstance(exc, RateLimited) else None
        if exc.status_code == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.middleware("http")
    async def _trace(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        with tracer().start_as_current_span(f"{request.method} {request.url.path}"):
            trace_id = current_trace_id()
            response = await call_next(request)
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        response.headers["X-Response-Time-Ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        return response

    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)

    def principal(request: Request) -> Principal:
        who = authenticate(c, bearer_token(request))
        limiter.check(who.key_id)
        return who

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length and int(length) > settings.max_body_bytes:
            raise PayloadTooLarge(f"request body over {settings.max_body_bytes} bytes")
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise PayloadTooLarge(f"request body over {settings.max_body_bytes} bytes")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ValidationFailed(f"body is not valid JSON: {exc}") from exc

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/events", status_code=202)
    async def post_events(request: Request, response: Response, who: Principal = Depends(principal)) -> Any:
        who.require("events:write")
        body = await read_json(request)
        batch = isinstance(body, dict) and "events" in body
        raw = body["events"] if batch else [body]
        if not isinstance(raw, list):
            raise ValidationFailed("'events' must be a list of events")
        if len(raw) > settings.max_batch_events:
            raise ValidationFailed(f"at most {settings.max_batch_events} events per request, got {len(raw)}")
        report = await run_in_threadpool(ingest, c, who.tenant, raw, source="api")
        if not batch:
            if report.rejected:
                raise ValidationFailed("the event is malformed", details=report.rejected[0].errors)
            if report.duplicates:
                response.status_code = 200
                with transaction(c.sessions) as session:
                    return {
                        **AuditQueries().event_with_actions(session, who.tenant.id, report.duplicates[0].key),
                        "duplicate": True,
                    }
            accepted = report.accepted[0]
            return {"id": accepted.key, "type": accepted.type, "status": accepted.status}
        if raw and not report.accepted and not report.duplicates:
            return JSONResponse(
                {"error": "validation_failed", "message": "every event was rejected", **report.to_dict()},
                status_code=422,
            )
        if not report.accepted and report.duplicates:
            response.status_code = 200
        return report.to_dict()

    @app.get("/v1/events/{event_id}")
    def get_event(event_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        who.require("read")
        with transaction(c.sessions) as session:
            return AuditQueries().event_with_actions(session, who.tenant.id, event_id)

    @app.get("/v1/contacts/{external_id}/timeline")
    def timeline(external_id: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        who.require("read")
        with transaction(c.sessions) as session:
            return AuditQueries().timeline(session, who.tenant.id, external_id)

    return app
