"""A month of the sample business, fed through the real workflows on a fast-forwarded clock.

The demo trains the lead model on two years of history, then lets leads arrive, contacts reply (in
their own words and languages), book, cancel and go quiet; follow-ups fire from their due-times; the
capable tier runs against a simulated model endpoint that goes down for a few hours mid-month.
"""

from __future__ import annotations

import heapq
import itertools
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from nightcrew.bootstrap import Container, TenantRef, build_container
from nightcrew.channels.repository import DueMessages, OutboxRepository
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.crm.repository import DueFollowUps
from nightcrew.db import refresh_statistics, sqlite_path, transaction
from nightcrew.migrations import upgrade
from nightcrew.playbook import load_playbook, sample_playbook_path
from nightcrew.simulate.behaviour import Behaviour, Persona
from nightcrew.simulate.business import live_lead_events
from nightcrew.simulate.llm_endpoint import LatencyModel, SimulatedLLMEndpoint
from nightcrew.simulate.llm_responder import SimulatedModel
from nightcrew.simulate.report import build_report
from nightcrew.simulate.training import train_and_promote
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep

Progress = Callable[[float, str], None]

# After the last lead, keep the clock running so every waiting message and follow-up gets its turn.
TAIL = timedelta(days=4)


@dataclass
class DemoOptions:
    """How big a month to simulate and where to put it."""

    leads: int = 100
    days: int = 30
    seed: int = 7
    start: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    database_url: str = "sqlite:///./nightcrew-demo.db"
    outbox_path: Path = Path("./nightcrew-demo-outbox.jsonl")
    work_dir: Path = Path("./nightcrew-demo-files")
    # The operator's own playbook (None: the sample). Its capable tier runs as configured when it names a network
    # endpoint; when it is local only, it is pointed at the simulated endpoint (and only then is there an outage).
    playbook: Path | None = None
    history_rows: int = 6000
    # The capable tier's provider is down from this many days after the start, for this many hours.
    # Wednesday of the second week, from 10:36 in Bogotá: business hours, when the model is busiest.
    outage_day: float = 9.4
    outage_hours: float = 10.0


@dataclass
class Simulation:
    """The running demo."""

    container: Container
    clock: FakeClock
    tenant: TenantRef
    options: DemoOptions
    endpoint: SimulatedLLMEndpoint | None
    model: SimulatedModel | None
    behaviour: Behaviour
    personas: dict[str, Persona]
    started: float = field(default_factory=time.perf_counter)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    max_waiting_for_model: int = 0
    outage_active: bool = False
    seen_sent: set[int] = field(default_factory=set)
    last_scan: datetime | None = None
    lead_model: dict[str, Any] = field(default_factory=dict)
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000))


def _reset_storage(options: DemoOptions) -> None:
    path = sqlite_path(options.database_url)
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    options.outbox_path.unlink(missing_ok=True)
    shutil.rmtree(options.work_dir, ignore_errors=True)
    options.work_dir.mkdir(parents=True)


def capable_tier_configured(playbook: Path) -> bool:
    """Whether the playbook's capable tier names a network endpoint (else the demo simulates one)."""
    routing = load_playbook(playbook).routing
    return any(not endpoint.is_local for endpoint in routing.tiers[routing.capable_tier].endpoints)


def _demo_playbook(folder: Path, base_url: str, source: Path, *, replies_wait: bool) -> Path:
    """The playbook with its capable tier pointed at the simulated endpoint (configuration, not code).

    ``replies_wait``: replies wait durably for the model instead of falling back to templates. On WhatsApp only
    replies inside the 24-hour window are model-written, so this is what makes the outage fill the queue.
    """
    shutil.copytree(source.parent, folder)
    path = folder / source.name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    capable = load_playbook(source).routing.capable_tier
    if replies_wait:
        data["routing"]["tasks"]["compose_reply"] = {"tier": capable, "allow_template_fallback": False}
        # A probe every 10 minutes of simulated time through a 10-hour outage (the sample's 2 minutes would
        # mean 300 failed probes, each a release workflow, for the same lesson and three times the demo's CPU).
        data["routing"]["breaker"] = {**(data["routing"].get("breaker") or {}), "cooldown_s": 600}
    data["routing"]["tiers"][capable] = [
        {
            "provider": "openai",
            "name": "simulated-gpt",
            "base_url": base_url,
            "model": "sim-gpt-4o-mini",
            "input_per_mtok": 0.15,
            "output_per_mtok": 0.60,
            "timeout_s": 5,
            "max_concurrency": 8,
            "max_retries": 1,
            "simulated": True,
        }
    ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def start(options: DemoOptions) -> Simulation:
    """Fresh storage, the model endpoint, a FakeClock at the start of the month, DBOS running in-process."""
    _reset_storage(options)
    clock = FakeClock(options.start)
    endpoint: SimulatedLLMEndpoint | None = None
    model: SimulatedModel | None = None
    playbook = options.playbook or sample_playbook_path()
    if not capable_tier_configured(playbook):
        model = SimulatedModel(options.seed)
        endpoint = SimulatedLLMEndpoint(responder=model, latency=LatencyModel(), time_scale=0.0, clock=clock).start()
        playbook = _demo_playbook(
            options.work_dir / "playbook", endpoint.openai_base_url, playbook, replies_wait=options.playbook is None
        )
    settings = Settings(
        database_url=options.database_url,
        outbound_file=options.outbox_path,
        outbound_channel="file",
        outbound_webhook_url=None,
        executor_id="nightcrew-demo",
        playbook=playbook,
        # The demo starts every workflow directly on its simulated clock; DBOS's queue pollers would only burn the
        # CPU the workflows need (each queue is polled at this interval even when empty).
        queue_polling_interval=2.0,
    )
    upgrade(settings.database_url)
    container = build_container(settings, clock=clock)
    tenant = container.ensure_tenant("default", "Aurora Kids Academy", playbook.resolve())
    runtime.launch(container, schedule_sweeps=False)
    rng = random.Random(options.seed)
    return Simulation(container, clock, tenant, options, endpoint, model, Behaviour(rng), {})


def _next_due(sim: Simulation) -> datetime | None:
    with transaction(sim.container.sessions) as session:
        candidates = [DueMessages(session).next_due(), DueFollowUps(session).next_due()]
    present = [c for c in candidates if c is not None]
    return min(present) if present else None


def _feed(sim: Simulation, batch: list[dict[str, Any]]) -> None:
    if not batch:
        return
    report = ingest(sim.container, sim.tenant, batch, source="demo", direct=True)
    sim.accepted += len(report.accepted)
    sim.rejected += len(report.rejected)
    sim.duplicates += len(report.duplicates)
    for handle in report.handles:
        handle.get_result()


def _sweep(sim: Simulation) -> int:
    """Run sweeps until nothing more is due now; how many workflows they started."""
    started = 0
    due = _next_due(sim)
    if due is None or due > sim.clock.now():
        return 0  # two indexed reads instead of a whole sweep: most moments are an arrival with nothing due
    for _ in range(6):
        report = run_sweep(sim.container, direct=True)
        report.wait()
        started += len(report.handles)
        if not report.handles:
            break
    return started


def _observe_sends(sim: Simulation, moment: datetime, reactions: list[tuple[datetime, int, dict[str, Any]]]) -> None:
    """Let every contact who just got a message react to it (or not)."""
    since = sim.last_scan or sim.options.start
    with transaction(sim.container.sessions) as session:
        outbox = OutboxRepository(session, sim.tenant.id)
        sent = [
            (m.id, external_id, {"purpose": m.purpose, "path": m.path, "plan": m.plan, "segment": m.segment}, m.sent_at)
            for m, external_id in outbox.sent_between(since, moment)
        ]
        waiting = DueMessages(session).count_waiting_for_model()
    sim.max_waiting_for_model = max(sim.max_waiting_for_model, waiting)
    sim.last_scan = moment
    for message_id, external_id, message, sent_at in sent:
        if message_id in sim.seen_sent or sent_at is None:
            continue
        sim.seen_sent.add(message_id)
        persona = sim.personas.get(external_id)
        if persona is None:
            continue
        for reaction in sim.behaviour.react(persona, message, sent_at):
            heapq.heappush(reactions, (reaction.at, next(sim.sequence), reaction.event))


def _toggle_outage(sim: Simulation, moment: datetime) -> None:
    if sim.endpoint is None:
        return
    begin = sim.options.start + timedelta(days=sim.options.outage_day)
    active = begin <= moment < begin + timedelta(hours=sim.options.outage_hours)
    if active != sim.outage_active:
        sim.endpoint.set_outage(active)
        sim.outage_active = active


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Simulate the month and return the report."""
    sim = start(options)
    try:
        if progress:
            progress(0.0, "training the lead model on two years of history")
        sim.lead_model = train_and_promote(sim.container, sim.tenant, options)
        end = options.start + timedelta(days=options.days)
        leads, personas = live_lead_events(
            random.Random(options.seed + 1), options.leads, options.start, options.days, options.seed + 1
        )
        sim.personas = personas
        rng = random.Random(options.seed + 2)
        # A CRM retries webhooks: a few events arrive twice; the second must start nothing.
        leads += [dict(event) for event in rng.sample(leads, k=max(1, len(leads) // 25))]
        arrivals = [(datetime.fromisoformat(e["occurred_at"]), i, e) for i, e in enumerate(leads)]
        heapq.heapify(arrivals)
        horizon = end + TAIL
        outage_edges = []
        if sim.endpoint is not None:
            begin = options.start + timedelta(days=options.outage_day)
            outage_edges = [begin, begin + timedelta(hours=options.outage_hours)]
        last_moment: datetime | None = None
        while True:
            candidates = [t for t in (arrivals[0][0] if arrivals else None, _next_due(sim)) if t is not None]
            candidates += [edge for edge in outage_edges if edge > sim.clock.now()]
            candidates = [t for t in candidates if t <= horizon]
            if not candidates:
                break
            moment = max(min(candidates), sim.clock.now())
            sim.clock.set(moment)
            _toggle_outage(sim, moment)
            batch = []
            while arrivals and arrivals[0][0] <= moment:
                batch.append(heapq.heappop(arrivals)[2])
            _feed(sim, batch)
            started = _sweep(sim)
            _observe_sends(sim, moment, arrivals)
            if not batch and not started and moment == last_moment:
                raise RuntimeError(f"the simulation made no progress at {moment.isoformat()}")
            last_moment = moment
            if progress:
                progress(min(1.0, (moment - options.start) / (horizon - options.start)), moment.strftime("%b %d %H:%M"))
        sim.clock.set(max(sim.clock.now(), horizon))
        # The month filled an empty file: fresh statistics keep the dashboard's pages on their indexes.
        refresh_statistics(sim.container.engine)
        return build_report(sim, end)
    finally:
        runtime.shutdown()
        sim.container.close()
        if sim.endpoint is not None:
            sim.endpoint.stop()
