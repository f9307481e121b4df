"""Prometheus metrics: one registry per process, read by GET /metrics (or a worker's metrics port)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter("nightcrew_events_total", "Events by type and final status", ["type", "status"], registry=REGISTRY)
ACTIONS = Counter("nightcrew_actions_total", "Audit-log actions by kind", ["kind"], registry=REGISTRY)
VERDICTS = Counter(
    "nightcrew_guardrail_verdicts_total",
    "Guardrail verdicts by check and verdict",
    ["check", "verdict"],
    registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "nightcrew_messages_sent_total",
    "Messages handed to a channel",
    ["channel", "transport"],
    registry=REGISTRY,
)
SEND_FAILURES = Counter(
    "nightcrew_send_failures_total", "Failed send attempts", ["channel", "transport"], registry=REGISTRY
)
PROVIDER_CALLS = Counter(
    "nightcrew_provider_calls_total",
    "Model provider calls by outcome",
    ["provider", "model", "task", "outcome"],
    registry=REGISTRY,
)
PROVIDER_LATENCY = Histogram(
    "nightcrew_provider_latency_seconds",
    "Model provider call latency",
    ["provider", "model"],
    registry=REGISTRY,
)
COST = Counter("nightcrew_cost_usd_total", "Model cost in USD", ["tier", "task"], registry=REGISTRY)
BREAKER_STATE = Gauge(
    "nightcrew_breaker_state",
    "Circuit breaker state (0 closed, 1 half-open, 2 open)",
    ["endpoint"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("nightcrew_queue_depth", "Work waiting, by queue", ["queue"], registry=REGISTRY)
STEP_SECONDS = Histogram(
    "nightcrew_step_seconds",
    "Workflow step duration",
    ["step"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class _RefreshedRegistry(Collector):
    """REGISTRY as seen by a scrape: the gauges are brought up to date first."""

    def __init__(self, refresh: Callable[[], None]) -> None:
        self.refresh = refresh

    def _refreshed(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # the counters are still worth scraping when the database is away
            structlog.get_logger("nightcrew.metrics").warning("metrics.refresh_failed", error=type(exc).__name__)

    def collect(self) -> Iterable[Metric]:
        self._refreshed()
        return REGISTRY.collect()

    def restricted_registry(self, names: Iterable[str]) -> Collector:
        """Only the metrics named (Prometheus's ``name[]`` parameter)."""
        self._refreshed()
        restricted: Collector = REGISTRY.restricted_registry(names)
        return restricted


def serve_metrics(port: int, addr: str = "0.0.0.0", refresh: Callable[[], None] | None = None) -> Callable[[], None]:
    """Serve REGISTRY over HTTP on ``port`` from a daemon thread (a worker's /metrics); returns how to stop it."""
    registry: Collector = _RefreshedRegistry(refresh) if refresh else REGISTRY
    server, thread = start_http_server(port, addr=addr, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
