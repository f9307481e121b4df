"""Spans from the request through the workflow steps to the send share one trace id, in serve and in worker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy import select
from tests.support.events import lead
from tests.support.processes import NightcrewProcess, WorkerProcess, free_port, open_all_hours_playbook
from tests.support.receiver import Receiver

from nightcrew.channels.base import OutboundMessage
from nightcrew.channels.service import transmit
from nightcrew.channels.transports import FileTransport, WebhookTransport
from nightcrew.db import make_engine, make_session_factory, transaction
from nightcrew.errors import ChannelError
from nightcrew.migrations import upgrade
from nightcrew.observe.models import Action
from nightcrew.observe.tracing import configure_tracing, key_hash

AUTH = {"Authorization": "Bearer trace-key"}
PHONE = "+573001234567"


def spans_in(log: Path) -> list[dict[str, Any]]:
    """The spans the console exporter wrote (one JSON object per line, among the log lines)."""
    spans = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and '"context"' in line:
            span = json.loads(line)
            if "span_id" in span.get("context", {}):
                spans.append(span)
    return spans


def trace_of(span: dict[str, Any]) -> str:
    return str(span["context"]["trace_id"]).removeprefix("0x")


def actions_of(url: str, event_key: str) -> list[tuple[str, str | None]]:
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            rows = session.execute(select(Action.kind, Action.trace_id).where(Action.event_key == event_key)).all()
            return [(str(kind), trace_id) for kind, trace_id in rows]
    finally:
        engine.dispose()


def wait_done(api: NightcrewProcess, event_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{api.url}/v1/events/{event_id}", headers=AUTH, timeout=10).json()
        if status.get("status") == "done":
            return
        time.sleep(0.2)
    raise AssertionError(f"{event_id} not done: {status}")


def wait_for_metrics(port: int, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            if response.status_code == 200:
                return response.text
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no metrics on port {port}")


@pytest.mark.slow
def test_console_exporter_in_serve_and_worker_one_trace_from_request_to_send(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trace.db'}"
    upgrade(url)
    metrics_port = free_port()
    env = {
        "NIGHTCREW_DATABASE_URL": url,
        "NIGHTCREW_API_KEY": "trace-key",
        "NIGHTCREW_OUTBOUND_FILE": str(tmp_path / "outbox.jsonl"),
        "NIGHTCREW_QUEUE_POLLING_INTERVAL": "0.05",
        "NIGHTCREW_PLAYBOOK": str(open_all_hours_playbook(tmp_path / "playbook")),
        "NIGHTCREW_LOG_LEVEL": "WARNING",
        "NIGHTCREW_TRACE_EXPORTER": "console",
        "NIGHTCREW_EXECUTOR_ID": "api-1",
    }
    api = NightcrewProcess(env, tmp_path, free_port(), api_only=True).start()
    worker = WorkerProcess({**env, "NIGHTCREW_METRICS_PORT": str(metrics_port)}, tmp_path, "worker-1").start()
    try:
        response = httpx.post(f"{api.url}/v1/events", json=lead("e1", "c1"), headers=AUTH, timeout=10)
        assert response.status_code == 202
        trace_id = response.headers["X-Trace-Id"]
        assert len(trace_id) == 32
        wait_done(api, "e1")
        metrics = wait_for_metrics(metrics_port)
    finally:
        worker.stop()
        api.stop()

    # The API process exported the request's span and the ingest under it.
    api_spans = [s for s in spans_in(api.log) if trace_of(s) == trace_id]
    assert {"POST /v1/events", "events.ingest"} <= {s["name"] for s in api_spans}

    # The worker exported every step of the lead workflow, the first one included (the workflow joins the stored
    # traceparent before it), and the send, in the same trace.
    worker_spans = [s for s in spans_in(worker.log) if trace_of(s) == trace_id]
    names = {s["name"] for s in worker_spans}
    assert {"event.begin", "contact.upsert", "lead.classify", "lead.pick_plan", "message.compose"} <= names
    assert {"message.check", "message.send", "channel.send", "event.finish"} <= names
    send = next(s for s in worker_spans if s["name"] == "channel.send")
    step = next(s for s in worker_spans if s["name"] == "message.send")
    assert send["parent_id"] == step["context"]["span_id"]
    assert send["attributes"]["nightcrew.channel"] == "whatsapp"
    assert send["attributes"]["nightcrew.transport"] == "file"
    assert send["attributes"]["nightcrew.idempotency_key_hash"] == key_hash("default:e1:send")
    assert isinstance(send["attributes"]["nightcrew.message_id"], int)
    exported = json.dumps(worker_spans + api_spans)
    assert PHONE not in exported and "default:e1:send" not in exported
    body = json.loads((tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()[0])["body"]
    assert body not in exported

    # Every action of the event carries the trace id the response returned.
    actions = actions_of(url, "e1")
    assert {kind for kind, _ in actions} >= {"lead.classified", "plan.chosen", "message.sent"}
    assert {trace for _, trace in actions} == {trace_id}

    # The worker's own counters are on its metrics port: the API-only process never sent anything.
    assert 'nightcrew_messages_sent_total{channel="whatsapp",transport="file"} 1.0' in metrics
    assert 'nightcrew_events_total{status="done",type="lead.created"} 1.0' in metrics
    assert 'nightcrew_actions_total{kind="message.sent"} 1.0' in metrics


def test_worker_metrics_port_flag_serves_the_registry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    upgrade(url)
    port = free_port()
    exe = Path(sys.executable).parent / "nightcrew"
    log = tmp_path / "worker.log"
    env = {"NIGHTCREW_DATABASE_URL": url, "NIGHTCREW_LOG_LEVEL": "WARNING", "PATH": str(exe.parent)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(exe), "worker", "--executor-id", "metrics-1", "--metrics-port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        text = wait_for_metrics(port, proc)
        # Gauges are refreshed on each scrape, so the queue depths are there before any work arrived.
        assert 'nightcrew_queue_depth{queue="events"} 0.0' in text
        assert "# TYPE nightcrew_messages_sent_total counter" in text
        assert "# TYPE nightcrew_step_seconds histogram" in text
        only = httpx.get(f"http://127.0.0.1:{port}/metrics?name[]=nightcrew_queue_depth", timeout=5).text
        assert 'nightcrew_queue_depth{queue="events"} 0.0' in only and "nightcrew_step_seconds" not in only
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0, log.read_text()
    assert f"metrics on http://0.0.0.0:{port}/metrics" in log.read_text()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing("none")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the provider; a shut exporter keeps nothing more


def _message(key: str) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        tenant="acme",
        channel="sms",
        to=PHONE,
        body="Hola Ana, tu clase es el martes",
        language="es",
        contact_external_id="c-9",
        metadata={"message_id": 41},
    )


def test_a_send_has_its_own_span_without_address_or_body(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    transmit(FileTransport(tmp_path / "out.jsonl"), _message("acme:e9:send"))
    (span,) = [s for s in spans.get_finished_spans() if s.name == "channel.send"]
    assert dict(span.attributes or {}) == {
        "nightcrew.channel": "sms",
        "nightcrew.transport": "file",
        "nightcrew.message_id": 41,
        "nightcrew.idempotency_key_hash": key_hash("acme:e9:send"),
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_failed_send_is_an_error_span(spans: InMemorySpanExporter) -> None:
    receiver = Receiver(fail_next=1).start()
    try:
        with pytest.raises(ChannelError):
            transmit(WebhookTransport(receiver.url, timeout_s=5), _message("acme:e10:send"))
    finally:
        receiver.stop()
    (span,) = [s for s in spans.get_finished_spans() if s.name == "channel.send"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["nightcrew.transport"] == "webhook"
    assert [e.name for e in span.events] == ["exception"]
    assert PHONE not in str(dict(span.attributes)) and "Hola" not in str(dict(span.attributes))
