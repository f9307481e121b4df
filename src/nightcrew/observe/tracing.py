"""OpenTelemetry: one tracer; trace ids travel with the event from the request to the send."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: TracerProvider | None = None
# Exporters already installed, so that asking twice (the CLI, then the container) exports each span once.
_exporters: set[tuple[str, str | None]] = set()


def _one_line(span: ReadableSpan) -> str:
    # One JSON object per line: the console exporter's output can be read (and grepped) line by line.
    return str(span.to_json(indent=None)) + os.linesep


def configure_tracing(exporter: str, otlp_endpoint: str | None = None, service_name: str = "nightcrew") -> None:
    """Install the process's tracer provider and the exporter asked for: 'none', 'console' or 'otlp'.

    Spans always get real ids (they are stored on every action); each call may add an exporter, and asking
    for one already installed does nothing, so whichever part of the process calls first cannot turn export off.
    """
    global _provider
    with _lock:
        if _provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                _provider = current
            else:
                from opentelemetry.sdk.resources import Resource

                _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
                trace.set_tracer_provider(_provider)
        if exporter == "none" or (exporter, otlp_endpoint) in _exporters:
            return
        if exporter == "console":
            _provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=_one_line)))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
        else:
            raise ValueError(f"unknown trace exporter {exporter!r}: use none, console or otlp")
        _exporters.add((exporter, otlp_endpoint))


def tracer() -> trace.Tracer:
    """The nightcrew tracer."""
    return trace.get_tracer("nightcrew")


def current_traceparent() -> str | None:
    """W3C traceparent of the active span, to store with an event."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex trace id inside a traceparent."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None


def current_trace_id() -> str | None:
    """Hex trace id of the active span, if any."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


@contextmanager
def span_under(traceparent: str | None, name: str, **attributes: str | int | float | bool) -> Iterator[Span]:
    """A span whose parent is the stored traceparent (a workflow step joining its request's trace)."""
    context = None
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4:
            parent = SpanContext(
                trace_id=int(parts[1], 16),
                span_id=int(parts[2], 16),
                is_remote=True,
                trace_flags=TraceFlags(int(parts[3], 16)),
            )
            context = trace.set_span_in_context(NonRecordingSpan(parent))
    with tracer().start_as_current_span(name, context=context, attributes=attributes) as span:
        yield span


def key_hash(key: str) -> str:
    """A short digest of an idempotency key: joins a span to its outbox row without carrying ids in clear."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@contextmanager
def send_span(channel: str, transport: str, message_id: int | None, idempotency_key: str) -> Iterator[Span]:
    """The span of one hand-over to a transport: which channel and transport, never the address or the body."""
    attributes: dict[str, str | int] = {
        "nightcrew.channel": channel,
        "nightcrew.transport": transport,
        "nightcrew.idempotency_key_hash": key_hash(idempotency_key),
    }
    if message_id is not None:
        attributes["nightcrew.message_id"] = message_id
    with tracer().start_as_current_span("channel.send", attributes=attributes) as span:
        yield span
