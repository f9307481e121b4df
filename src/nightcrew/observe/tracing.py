"""OpenTelemetry: one tracer; trace ids travel with the event from the request to the send."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_configured = False


def configure_tracing(exporter: str, otlp_endpoint: str | None = None, service_name: str = "nightcrew") -> None:
    """Install the tracer provider once per process: exporter 'none', 'console' or 'otlp'."""
    global _configured
    if _configured:
        return
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


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
