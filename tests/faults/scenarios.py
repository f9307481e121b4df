"""Fault scenarios through real processes: crash again and again, model outage under load, sustained ingest.

Each ``run_*`` returns a report of plain figures; ``benchmarks/`` prints them at full size and the tests in
this folder assert on smaller runs. Nothing here reaches into the processes: events go in over HTTP,
messages come out at a webhook receiver on 127.0.0.1, and the figures are read from the API and the database.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import Engine, select, text
from tests.faults.processes import (
    Child,
    api_event,
    event_statuses,
    lead_event,
    open_hours_playbook,
    percentile,
    post_until_accepted,
    process_env,
    reader,
    wait_until_done,
)
from tests.support.processes import free_port
from tests.support.receiver import Receiver

from nightcrew.channels.models import Message
from nightcrew.clock import SystemClock
from nightcrew.migrations import upgrade
from nightcrew.simulate.llm_endpoint import ChatRequest, SimulatedLLMEndpoint

API_KEY = "fault-run-key"
Topology = Literal["serve", "worker"]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _client() -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)


@dataclass
class Deliveries:
    """What the webhook receiver saw, judged against the messages nightcrew meant to send."""

    intended: set[str]
    acknowledged: Counter[str]
    requests: int
    # (tenant, outbox message id) -> every Idempotency-Key its requests carried
    keys_per_message: dict[tuple[str, int], set[str]]
    # contact -> distinct acknowledged keys
    keys_per_contact: dict[str, set[str]]

    @property
    def lost(self) -> list[str]:
        """Intended messages the receiver never acknowledged."""
        return sorted(self.intended - set(self.acknowledged))

    @property
    def unexpected(self) -> list[str]:
        """Acknowledged keys nobody meant to send."""
        return sorted(set(self.acknowledged) - self.intended)

    @property
    def duplicates(self) -> int:
        """Messages delivered under more than one key, contacts messaged twice, and unexpected keys."""
        split = sum(1 for keys in self.keys_per_message.values() if len(keys) > 1)
        twice = sum(1 for keys in self.keys_per_contact.values() if len(keys) > 1)
        return split + twice + len(self.unexpected)

    @property
    def redeliveries(self) -> int:
        """Extra acknowledged requests with a key already acknowledged (the receiver's key dedupe absorbs them)."""
        return sum(n - 1 for n in self.acknowledged.values() if n > 1)


def judge(receiver: Receiver, intended: set[str]) -> Deliveries:
    """Group the receiver's requests by message and by contact."""
    per_message: dict[tuple[str, int], set[str]] = defaultdict(set)
    per_contact: dict[str, set[str]] = defaultdict(set)
    with receiver.lock:
        requests = list(receiver.requests)
    for request in requests:
        body = request.body
        message_id = int((body.get("metadata") or {}).get("message_id") or -1)
        per_message[(str(body.get("tenant")), message_id)].add(request.key or "")
        if request.acknowledged:
            per_contact[f"{body.get('tenant')}/{body.get('contact_external_id')}"].add(request.key or "")
    return Deliveries(intended, receiver.acknowledged_keys(), len(requests), dict(per_message), dict(per_contact))


def _sent_keys(actions: list[dict[str, Any]]) -> list[str]:
    return [str(a["input"]["idempotency_key"]) for a in actions if a["kind"] == "message.sent"]


# crash


@dataclass
class Kill:
    """One SIGKILL: how long the process had run since it was ready, and what was unfinished at that moment."""

    alive_s: float
    mid_send: bool
    unfinished_events: int


@dataclass
class CrashReport:
    """Figures of a crash run."""

    backend: str
    topology: Topology
    events: int
    kills: list[Kill]
    statuses: dict[str, str]
    sent_actions: dict[str, list[str]]
    deliveries: Deliveries
    restart_s: list[float]
    post_attempts: int
    elapsed_s: float

    @property
    def done(self) -> int:
        """Events whose status is done."""
        return sum(1 for s in self.statuses.values() if s == "done")

    @property
    def lost(self) -> int:
        """Events that did not end done or whose message the receiver never acknowledged."""
        undelivered = set(self.deliveries.lost)
        return sum(
            1
            for event_id, status in self.statuses.items()
            if status != "done" or undelivered.intersection(self.sent_actions.get(event_id, []))
        )

    @property
    def duplicate_sends(self) -> int:
        """Events that recorded more than one send, plus duplicate deliveries at the receiver."""
        return sum(1 for keys in self.sent_actions.values() if len(keys) > 1) + self.deliveries.duplicates

    def lines(self) -> list[str]:
        """The report as printable lines."""
        d = self.deliveries
        in_flight = sum(1 for k in self.kills if k.unfinished_events > 0)
        restarts = sorted(self.restart_s)
        return [
            f"backend              : {self.backend} ({self.topology}: the killed process is "
            f"{'`nightcrew serve`' if self.topology == 'serve' else '`nightcrew worker`; the API process stays up'})",
            f"kills (SIGKILL)      : {len(self.kills)} ({sum(k.mid_send for k in self.kills)} held mid-send, "
            f"{in_flight} with unfinished events at the moment of the kill)",
            f"events               : {self.events} posted, {self.done} done, {self.events - self.done} not done",
            f"intended messages    : {len(d.intended)}; acknowledged keys {len(d.acknowledged)}; lost {len(d.lost)}",
            f"lost                 : {self.lost}",
            f"duplicate sends      : {self.duplicate_sends} (messages under >1 key, contacts messaged twice, "
            f"events with >1 message.sent)",
            f"acknowledged requests: {sum(d.acknowledged.values())} of {d.requests} received; "
            f"same-key redeliveries {d.redeliveries} (absorbed by the Idempotency-Key)",
            f"restart to ready     : median {percentile(restarts, 50):.1f} s, max {max(restarts, default=0):.1f} s",
            f"post attempts        : {self.post_attempts} for {self.events} events (retried while the API was down)",
            f"elapsed              : {self.elapsed_s:.1f} s",
        ]


def _chunks(items: list[str], parts: int) -> list[list[str]]:
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def run_crash(
    database_url: str,
    folder: Path,
    *,
    events: int = 200,
    kills: int = 50,
    topology: Topology = "serve",
    seed: int = 7,
    alive_s: tuple[float, float] = (0.1, 1.2),
    hold_first_send: bool = True,
    concurrency: int = 4,
    timeout_s: float = 600.0,
    progress: Progress = _quiet,
) -> CrashReport:
    """Post ``events`` leads while SIGKILLing the worker ``kills`` times; restart it with the same executor id."""
    upgrade(database_url)
    rng = random.Random(seed)
    gate = threading.Event()
    receiver = Receiver(hold=gate if hold_first_send else None).start()
    playbook = open_hours_playbook(folder / "playbook")

    def env(executor_id: str) -> dict[str, str]:
        # A 5 s sweep restarts events whose enqueue a kill cut off (they stay 'received' for 30 s first).
        return process_env(
            database_url,
            api_key=API_KEY,
            executor_id=executor_id,
            playbook=playbook,
            webhook_url=receiver.url,
            concurrency=concurrency,
            sweep_interval_s=5,
        )

    api: Child | None = None
    if topology == "serve":
        target = Child("serve", env("crash-serve"), folder, port=free_port())
    else:
        api = Child("api", env("crash-api"), folder, port=free_port())
        target = Child("worker", env("crash-worker"), folder)
    base_url = (api or target).url
    ids = [f"crash-{i:04d}" for i in range(events)]
    chunks = _chunks(ids, kills + 1)
    cycle_began = [threading.Event() for _ in chunks]
    attempts = 0
    feed_error: list[BaseException] = []

    def feed() -> None:
        nonlocal attempts
        try:
            with _client() as client:
                for chunk, began in zip(chunks, cycle_began, strict=True):
                    began.wait()
                    for event_id in chunk:
                        _, tries = post_until_accepted(client, f"{base_url}/v1/events", lead_event(event_id, len(ids)))
                        attempts += tries
        except BaseException as exc:
            feed_error.append(exc)

    engine = reader(database_url)
    feeder = threading.Thread(target=feed, name="feeder", daemon=True)
    started = time.monotonic()
    record: list[Kill] = []
    try:
        if api is not None:
            api.start()
        feeder.start()
        for cycle in range(kills):
            target.start()
            if cycle:
                progress(f"kill {cycle}/{kills}: restarted in {target.start_seconds[-1]:.1f} s")
            cycle_began[cycle].set()
            ready = time.monotonic()
            mid_send = cycle == 0 and hold_first_send
            if mid_send:
                # The first kill lands inside the send step: the receiver holds the request open.
                if not receiver.holding.wait(timeout=120):
                    raise TimeoutError(f"no send started before the first kill: {target.tail()}")
            else:
                time.sleep(rng.uniform(*alive_s))
            target.kill()
            gate.set()
            unfinished = sum(1 for s in event_statuses(engine).values() if s != "done")
            record.append(Kill(time.monotonic() - ready, mid_send, unfinished))
        target.start()
        progress(f"final restart in {target.start_seconds[-1]:.1f} s; waiting for every event")
        for began in cycle_began:
            began.set()
        feeder.join(timeout=timeout_s)
        if feed_error:
            raise RuntimeError("posting failed") from feed_error[0]
        statuses, _ = wait_until_done(engine, ids, timeout_s)
        sent: dict[str, list[str]] = {}
        with _client() as client:
            for event_id in ids:
                body = api_event(client, base_url, event_id)
                statuses[event_id] = str(body["status"])
                sent[event_id] = _sent_keys(body["actions"])
        intended = {key for keys in sent.values() for key in keys}
        return CrashReport(
            backend="postgresql" if database_url.startswith("postgresql") else "sqlite",
            topology=topology,
            events=events,
            kills=record,
            statuses=statuses,
            sent_actions=sent,
            deliveries=judge(receiver, intended),
            restart_s=target.start_seconds[1:],
            post_attempts=attempts,
            elapsed_s=time.monotonic() - started,
        )
    finally:
        gate.set()
        for begun in cycle_began:
            begun.set()
        target.stop()
        if api is not None:
            api.stop()
        receiver.stop()
        engine.dispose()


# outage


OUTAGE_DRAFT = "Hola, gracias por escribir. Clases en vivo para niños."


def _draft(_: ChatRequest) -> str:
    return json.dumps({"text": OUTAGE_DRAFT, "language": "es", "claims_used": []})


def model_playbook(folder: Path, endpoint: SimulatedLLMEndpoint, cooldown_s: float) -> Path:
    """Outreach is drafted by the capable tier at ``endpoint`` only (no template fallback), sent by SMS."""

    def edit(data: dict[str, Any]) -> None:
        data["channels"]["preference"] = ["sms", "email"]  # a WhatsApp first message is always a template
        data["routing"]["tiers"]["capable"] = [
            {
                "provider": "openai",
                "name": "simulated",
                "base_url": endpoint.openai_base_url,
                "model": "gpt-sim",
                "input_per_mtok": 0.15,
                "output_per_mtok": 0.6,
                "timeout_s": 2,
                "max_retries": 0,
            }
        ]
        data["routing"]["tasks"]["compose_outreach"] = {"tier": "capable", "allow_template_fallback": False}
        data["routing"]["breaker"] = {"failure_threshold": 3, "cooldown_s": cooldown_s}

    return open_hours_playbook(folder, edit)


@dataclass
class OutageReport:
    """Figures of an outage run."""

    backend: str
    accepted: int
    outage_s: float
    statuses: dict[str, str]
    messages: dict[str, int]
    queued: int
    drained: int
    waiting_statuses: dict[str, int]
    undrained_events: set[str]
    peak_waiting: int
    deliveries: Deliveries
    template_bodies: int
    model_calls: int
    calls_during_outage: int
    drain_s: float | None
    settings: dict[str, float]
    elapsed_s: float

    @property
    def lost(self) -> int:
        """Accepted events that did not end done or whose waiting message was never sent."""
        return len({e for e, s in self.statuses.items() if s != "done"} | self.undrained_events)

    @property
    def duplicated(self) -> int:
        """Duplicate deliveries at the receiver."""
        return self.deliveries.duplicates

    def lines(self) -> list[str]:
        """The report as printable lines."""
        d = self.deliveries
        s = self.settings
        drain = f"{self.drain_s:.1f} s" if self.drain_s is not None else "never (timed out)"
        return [
            f"backend                 : {self.backend}; {self.accepted} lead events at {s['rate']:g}/s for "
            f"{s['duration']:g} s; provider down for {self.outage_s:.1f} s",
            f"settings                : breaker 3 failures / cool-down {s['cooldown']:g} s; sweep every "
            f"{s['sweep']:g} s; llm queue {s['llm_rate']:g} starts/s; worker concurrency {s['concurrency']:g}",
            f"messages queued         : {self.queued} (waited_for_model_at set; peak waiting at once "
            f"{self.peak_waiting})",
            f"drained                 : {self.drained} sent after waiting; {self.waiting_statuses}",
            f"lost                    : {self.lost}",
            f"duplicated              : {self.duplicated} (same-key redeliveries {d.redeliveries})",
            f"time to drain           : {drain} from the provider's return to the last waiting message sent",
            f"deliveries              : {sum(d.acknowledged.values())} acknowledged; {len(d.lost)} intended never "
            f"delivered; {self.template_bodies} template bodies (must be 0: no fallback allowed)",
            f"model calls             : {self.model_calls} in all; {self.calls_during_outage} reached the dead "
            "provider (the breaker refuses the rest)",
            f"events                  : {dict(Counter(self.statuses.values()))}; messages {self.messages}",
            f"elapsed                 : {self.elapsed_s:.1f} s",
        ]


def run_outage(
    database_url: str,
    folder: Path,
    *,
    rate_per_s: float = 4.0,
    duration_s: float = 60.0,
    outage: tuple[float, float] = (10.0, 40.0),
    cooldown_s: float = 5.0,
    sweep_s: int = 5,
    llm_rate: int = 5,
    concurrency: int = 4,
    timeout_s: float = 300.0,
    progress: Progress = _quiet,
) -> OutageReport:
    """Steady lead events; the model provider fails from ``outage[0]`` to ``outage[1]`` s; wait for the drain."""
    upgrade(database_url)
    clock = SystemClock()
    receiver = Receiver().start()
    llm = SimulatedLLMEndpoint(responder=_draft).start()
    env = process_env(
        database_url,
        api_key=API_KEY,
        executor_id="outage-serve",
        playbook=model_playbook(folder / "playbook", llm, cooldown_s),
        webhook_url=receiver.url,
        concurrency=concurrency,
        sweep_interval_s=sweep_s,
        extra={"NIGHTCREW_LLM_QUEUE_RATE_PER_SECOND": str(llm_rate)},
    )
    server = Child("serve", env, folder, port=free_port())
    engine = reader(database_url)
    accepted: list[str] = []
    feed_error: list[BaseException] = []
    total = int(rate_per_s * duration_s)

    def feed(t0: float) -> None:
        try:
            with _client() as client:
                for i in range(total):
                    time.sleep(max(0.0, t0 + i / rate_per_s - time.monotonic()))
                    event_id = f"outage-{i:05d}"
                    post_until_accepted(client, f"{server.url}/v1/events", lead_event(event_id, i))
                    accepted.append(event_id)
        except BaseException as exc:
            feed_error.append(exc)

    started = time.monotonic()
    peak = 0
    back_at: datetime | None = None
    try:
        server.start()
        # One lead first, with the provider up: the measured run starts warm (imports, clients, first connection).
        with _client() as client:
            post_until_accepted(client, f"{server.url}/v1/events", lead_event("outage-warmup", 99_999))
        wait_until_done(engine, ["outage-warmup"], 60)
        llm.reset()
        with receiver.lock:
            receiver.requests.clear()
        t0 = time.monotonic()
        feeder = threading.Thread(target=feed, args=(t0,), name="feeder", daemon=True)
        feeder.start()
        outage_s = 0.0
        down_at = 0.0
        phase = "before"
        while feeder.is_alive() or phase != "after":
            now = time.monotonic() - t0
            if phase == "before" and now >= outage[0]:
                llm.set_outage(True)
                down_at, phase = time.monotonic(), "down"
                progress(f"t={now:.1f} s: provider down")
            elif phase == "down" and now >= outage[1]:
                llm.set_outage(False)
                outage_s, back_at, phase = time.monotonic() - down_at, clock.now(), "after"
                progress(f"t={now:.1f} s: provider back")
            peak = max(peak, _waiting(engine))
            time.sleep(0.25)
        feeder.join()
        if feed_error:
            raise RuntimeError("posting failed") from feed_error[0]
        calls_during = sum(1 for r in llm.requests() if r.answered.startswith("fail"))
        statuses, _ = wait_until_done(engine, accepted, timeout_s)
        progress(f"events: {dict(Counter(statuses.values()))}")
        queued, drained, by_status, last_sent, undrained = _waited(engine)
        messages = _message_statuses(engine)
        with _client() as client:
            intended = {k for e in accepted for k in _sent_keys(api_event(client, server.url, e)["actions"])}
        deliveries = judge(receiver, intended)
        with receiver.lock:
            template_bodies = sum(1 for r in receiver.requests if r.body.get("body") != OUTAGE_DRAFT)
        drain_s = (last_sent - back_at).total_seconds() if last_sent and back_at and drained == queued else None
        return OutageReport(
            backend="postgresql" if database_url.startswith("postgresql") else "sqlite",
            accepted=len(accepted),
            outage_s=outage_s,
            statuses=statuses,
            messages=messages,
            queued=queued,
            drained=drained,
            waiting_statuses=by_status,
            undrained_events=undrained,
            peak_waiting=peak,
            deliveries=deliveries,
            template_bodies=template_bodies,
            model_calls=llm.count(),
            calls_during_outage=calls_during,
            drain_s=drain_s,
            settings={
                "rate": rate_per_s,
                "duration": duration_s,
                "cooldown": cooldown_s,
                "sweep": sweep_s,
                "llm_rate": llm_rate,
                "concurrency": concurrency,
            },
            elapsed_s=time.monotonic() - started,
        )
    finally:
        server.stop()
        llm.stop()
        receiver.stop()
        engine.dispose()


def _waiting(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM messages WHERE status = 'awaiting_model'")).scalar_one())


def _message_statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM messages GROUP BY status")).all()
    return {str(s): int(n) for s, n in rows}


def _waited(engine: Engine) -> tuple[int, int, dict[str, int], datetime | None, set[str]]:
    """Messages that waited for a model: how many, how many sent, by status, the last sent_at, unsent events."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.status, Message.sent_at, Message.event_key).where(Message.waited_for_model_at.is_not(None))
        ).all()
    by_status = Counter(str(status) for status, _, _ in rows)
    sent = [at for status, at, _ in rows if status == "sent" and at is not None]
    unsent = {str(key) for status, _, key in rows if status != "sent"}
    return len(rows), by_status.get("sent", 0), dict(by_status), max(sent, default=None), unsent


# load


@dataclass
class LoadReport:
    """Figures of a sustained-ingest run."""

    backend: str
    seconds: float
    threads: int
    results: list[tuple[str, int, float]]
    statuses: dict[str, str] = field(default_factory=dict)
    drain_s: float = 0.0
    serve_peak_rss_mb: float = 0.0

    @property
    def accepted(self) -> list[str]:
        """Ids the API accepted (202)."""
        return [event_id for event_id, status, _ in self.results if status == 202]

    @property
    def errors(self) -> int:
        """Requests that failed (connection errors, 4xx other than 429, 5xx)."""
        return sum(1 for _, status, _ in self.results if status not in (200, 202, 429))

    @property
    def lost(self) -> int:
        """Accepted events that did not end done."""
        return sum(1 for e in self.accepted if self.statuses.get(e) != "done")

    def lines(self) -> list[str]:
        """The report as printable lines."""
        latencies = [lat * 1000 for _, status, lat in self.results if status == 202]
        every = [lat * 1000 for _, _, lat in self.results]
        codes = Counter(status for _, status, _ in self.results)
        return [
            f"backend      : {self.backend}; {self.threads} client threads in a separate process, "
            f"one event per POST /v1/events, for {self.seconds:.0f} s",
            f"requests     : {len(self.results)}; by status {dict(sorted(codes.items()))} (0 = no answer)",
            f"accepted/s   : {len(self.accepted) / self.seconds:.1f}",
            f"latency      : p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
            f"max {max(every, default=0):.1f} ms (accepted requests)",
            f"errors       : {self.errors}; rate-limited (429) {codes.get(429, 0)}",
            f"backlog      : drained in {self.drain_s:.1f} s after the load stopped",
            f"events lost  : {self.lost} of {len(self.accepted)} accepted (each checked with GET /v1/events/{{id}})",
            f"serve memory : peak RSS {self.serve_peak_rss_mb:.0f} MiB",
        ]


def _generate(url: str, seconds: float, threads: int, out: Connection) -> None:
    """The load: ``threads`` closed-loop clients posting one lead event per request until the time is up."""
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client_loop(index: int) -> None:
        n = 0
        mine: list[tuple[str, int, float]] = []
        with _client() as client:
            while time.monotonic() < deadline:
                event_id = f"load-{index}-{n:06d}"
                began = time.perf_counter()
                try:
                    body = lead_event(event_id, index * 1_000_000 + n)
                    status = client.post(f"{url}/v1/events", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                mine.append((event_id, status, time.perf_counter() - began))
                n += 1
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.send(results)
    out.close()


def run_load(
    database_url: str,
    folder: Path,
    *,
    seconds: float = 60.0,
    threads: int = 4,
    concurrency: int = 4,
    drain_timeout_s: float = 1800.0,
    progress: Progress = _quiet,
) -> LoadReport:
    """Sustained ingest from a second process against ``nightcrew serve``; then every accepted event must end done."""
    upgrade(database_url)
    env = process_env(
        database_url,
        api_key=API_KEY,
        executor_id="load-serve",
        playbook=open_hours_playbook(folder / "playbook"),
        outbox=folder / "outbox.jsonl",
        concurrency=concurrency,
    )
    server = Child("serve", env, folder, port=free_port())
    engine = reader(database_url)
    try:
        server.start()
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        generator = ctx.Process(target=_generate, args=(server.url, seconds, threads, send), name="load")
        generator.start()
        send.close()
        results: list[tuple[str, int, float]] = receive.recv()
        generator.join()
        report = LoadReport(
            "postgresql" if database_url.startswith("postgresql") else "sqlite", seconds, threads, results
        )
        progress(f"load done: {len(report.accepted)} accepted; draining the backlog")
        _, report.drain_s = wait_until_done(engine, report.accepted, drain_timeout_s, poll_s=1.0)
        with _client() as client:
            report.statuses = {e: str(api_event(client, server.url, e)["status"]) for e in report.accepted}
        report.serve_peak_rss_mb = server.peak_rss_mb()
        return report
    finally:
        server.stop()
        engine.dispose()
