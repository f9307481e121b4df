"""A month of the sample business, fed through the real workflows on a fast-forwarded clock."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nightcrew.bootstrap import Container, TenantRef, build_container
from nightcrew.channels.repository import DueMessages
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.db import sqlite_path, transaction
from nightcrew.migrations import upgrade
from nightcrew.observe.repository import StatsRepository
from nightcrew.simulate.business import arrival_times, lead_event
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep

Progress = Callable[[float, str], None]

# After the last lead, keep the clock running so every deferred message gets its allowed hour.
TAIL = timedelta(days=3)


@dataclass
class DemoOptions:
    """How big a month to simulate and where to put it."""

    leads: int = 240
    days: int = 30
    seed: int = 7
    start: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    database_url: str = "sqlite:///./nightcrew-demo.db"
    outbox_path: Path = Path("./nightcrew-demo-outbox.jsonl")
    playbook: Path | None = None


@dataclass
class Simulation:
    """The running demo: its container, clock and tenant."""

    container: Container
    clock: FakeClock
    tenant: TenantRef
    options: DemoOptions
    started: float = field(default_factory=time.perf_counter)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0


def _reset_storage(options: DemoOptions) -> None:
    path = sqlite_path(options.database_url)
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    options.outbox_path.unlink(missing_ok=True)


def start(options: DemoOptions) -> Simulation:
    """Fresh database and outbox, a FakeClock at the start of the month, DBOS running in-process."""
    _reset_storage(options)
    settings = Settings(
        database_url=options.database_url,
        outbound_file=options.outbox_path,
        outbound_channel="file",
        outbound_webhook_url=None,
        executor_id="nightcrew-demo",
        playbook=options.playbook,
    )
    upgrade(settings.database_url)
    clock = FakeClock(options.start)
    container = build_container(settings, clock=clock)
    tenant = container.ensure_tenant("default", "Aurora Kids Academy")
    runtime.launch(container, schedule_sweeps=False)
    return Simulation(container, clock, tenant, options)


def _next_due(sim: Simulation) -> datetime | None:
    with transaction(sim.container.sessions) as session:
        candidates = [DueMessages(session).next_due()]
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
    # A sweep can make more work due at once (a release schedules a follow-up): repeat until quiet.
    for _ in range(5):
        report = run_sweep(sim.container, direct=True)
        report.wait()
        started += len(report.handles)
        if not report.handles:
            break
    return started


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Simulate the month and return the report."""
    rng = random.Random(options.seed)
    sim = start(options)
    try:
        end = options.start + timedelta(days=options.days)
        times = arrival_times(rng, options.start, options.days, options.leads)
        pending = [lead_event(rng, i, t) for i, t in enumerate(times)]
        # A CRM retries webhooks: a few events arrive twice; the second must start nothing.
        for event in rng.sample(pending, k=max(1, len(pending) // 25)):
            pending.append(dict(event))
        pending.sort(key=lambda e: e["occurred_at"])
        horizon = end + TAIL
        cursor = 0
        last_moment: datetime | None = None
        while True:
            next_event = datetime.fromisoformat(pending[cursor]["occurred_at"]) if cursor < len(pending) else None
            next_due = _next_due(sim)
            candidates = [t for t in (next_event, next_due) if t is not None and t <= horizon]
            if not candidates:
                break
            moment = max(min(candidates), sim.clock.now())
            sim.clock.set(moment)
            batch = []
            while cursor < len(pending) and datetime.fromisoformat(pending[cursor]["occurred_at"]) <= moment:
                batch.append(pending[cursor])
                cursor += 1
            _feed(sim, batch)
            started = _sweep(sim)
            if not batch and not started and moment == last_moment:
                raise RuntimeError(f"the simulation made no progress at {moment.isoformat()}")
            last_moment = moment
            if progress:
                progress(
                    min(1.0, (moment - options.start) / (horizon - options.start)),
                    moment.strftime("%b %d %H:%M"),
                )
        sim.clock.set(max(sim.clock.now(), horizon))
        return report(sim, end)
    finally:
        runtime.shutdown()
        sim.container.close()


def _outbox_keys(path: Path) -> Counter[str]:
    keys: Counter[str] = Counter()
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                keys[json.loads(line)["idempotency_key"]] += 1
    return keys


def report(sim: Simulation, end: datetime) -> dict[str, Any]:
    """The demo's figures, from the database and the outbox file."""
    keys = _outbox_keys(sim.options.outbox_path)
    with transaction(sim.container.sessions) as session:
        stats = StatsRepository(session, sim.tenant.id)
        events = stats.events_by_status()
        messages = stats.messages_by_status()
        out: dict[str, Any] = {
            "business": sim.container.playbook(sim.tenant).business.name,
            "period": {
                "start": sim.options.start.isoformat(),
                "end": end.isoformat(),
                "days": sim.options.days,
            },
            "events_received": sim.accepted + sim.duplicates + sim.rejected,
            "events_processed": sum(n for status, n in events.items() if status in ("done", "failed")),
            "events_by_type": stats.events_by_type(),
            "events_by_status": events,
            "duplicate_events_ignored": sim.duplicates,
            "messages_sent": messages.get("sent", 0),
            "messages_by_status": messages,
            "messages_by_language": stats.sent_by("language"),
            "messages_by_segment": stats.sent_by("segment"),
            "messages_by_channel": stats.sent_by("channel"),
            "deferred": stats.deferred_ever(),
            "failed": events.get("failed", 0) + messages.get("failed", 0),
            "duplicate_sends": sum(n - 1 for n in keys.values() if n > 1),
            "lost_events": sum(n for status, n in events.items() if status not in ("done", "failed")),
            "followups": {
                "by_status": stats.followups_by_status(),
                "due_by_end": stats.followups_due_by(end),
            },
            "wall_seconds": round(time.perf_counter() - sim.started, 2),
        }
    return out
