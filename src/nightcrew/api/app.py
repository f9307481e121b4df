"""``create_app(settings)``: the FastAPI application, its error handling and middleware."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from nightcrew.api import events, hooks, review, stats
from nightcrew.api.auth import make_rate_limiter
from nightcrew.bootstrap import Container, build_container
from nightcrew.config import Settings
from nightcrew.dashboard.views import create_dashboard_router
from nightcrew.db import ping, transaction
from nightcrew.errors import NightcrewError, RateLimited, ValidationFailed
from nightcrew.observe.health import refresh_gauges
from nightcrew.observe.metrics import REGISTRY
from nightcrew.observe.tracing import current_trace_id, tracer
from nightcrew.workflows import runtime

log = structlog.get_logger("nightcrew.api")


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    start_worker: bool = False,
    owned_runtime: bool | None = None,
) -> FastAPI:
    """Build the API; with ``start_worker`` the process also runs DBOS and consumes the queues.

    Without it, a process that owns its runtime (``nightcrew serve --api-only``) enqueues through DBOS's client;
    tests pass ``owned_runtime=False`` and run the workflows themselves.
    """
    settings = settings or Settings()
    owned = container is None
    c = container or build_container(settings)
    owned_runtime = start_worker if owned_runtime is None else owned_runtime

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # DBOS refuses its blocking set-up calls on a thread that runs an event loop.
        if start_worker:
            await run_in_threadpool(lambda: runtime.launch(c, supervise=owned_runtime))
        elif owned_runtime:
            await run_in_threadpool(runtime.connect_client, c)
        yield
        if owned_runtime:
            await run_in_threadpool(runtime.shutdown)
        if owned:
            c.close()

    app = FastAPI(title="nightcrew", version="1", lifespan=lifespan)
    app.state.container = c
    app.state.limiter = make_rate_limiter(c)

    @app.exception_handler(NightcrewError)
    async def _nightcrew_error(_request: Request, exc: NightcrewError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers or None)

    @app.middleware("http")
    async def _refuse_nul_paths(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # No id, slug or key holds U+0000 and PostgreSQL cannot compare with one: refuse it before any route.
        if "\x00" in request.url.path or "\x00" in request.url.query or "%00" in request.url.query:
            error = ValidationFailed("the URL contains a NUL character (U+0000)")
            return JSONResponse(error.to_dict(), status_code=error.status_code)
        return await call_next(request)

    @app.middleware("http")
    async def _trace(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        with tracer().start_as_current_span(f"{request.method} {request.url.path}"):
            trace_id = current_trace_id()
            structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
            try:
                response = await call_next(request)
            finally:
                structlog.contextvars.unbind_contextvars("request_id", "trace_id")
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "http.request",
            request_id=request_id,
            trace_id=trace_id,
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            ms=round(elapsed, 1),
        )
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        response.headers["X-Request-Id"] = request_id
        response.headers["X-Response-Time-Ms"] = f"{elapsed:.1f}"
        return response

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Ready when the database answers: 200, else 503 with the reason (a load balancer's check)."""
        try:
            ping(c.sessions)
        except Exception as exc:  # any failure to reach the database means this process cannot work
            log.warning("healthz.database_unavailable", error=type(exc).__name__)
            body = {"status": "unavailable", "database": f"unavailable ({type(exc).__name__})"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "executor_id": settings.executor_id})

    @app.get("/metrics")
    def metrics() -> Response:
        with transaction(c.sessions) as session:
            refresh_gauges(c, session, c.clock.now())
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.include_router(events.router)
    app.include_router(review.router)
    app.include_router(stats.router)
    app.include_router(hooks.router)
    app.include_router(create_dashboard_router())
    return app
