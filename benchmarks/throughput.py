"""Lead events per second end to end: HTTP-free ingest -> durable workflow -> send, on SQLite (and PostgreSQL).

Run: .venv/bin/python benchmarks/throughput.py [--events N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from nightcrew.bootstrap import build_container
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.migrations import upgrade
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest


def lead(i: int) -> dict[str, object]:
    return {
        "id": f"bench-{i}",
        "type": "lead.created",
        "occurred_at": "2026-03-02T15:00:00Z",
        "contact": {
            "external_id": f"b-{i}",
            "name": "Ana Gómez",
            "phone": "+573001234567",
            "location": "Bogotá, Colombia",
            "fields": {"child_age": 9, "inquiry_type": "coding_course"},
        },
    }


def run(database_url: str, events: int, batch: int, folder: Path) -> dict[str, float]:
    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        outbound_file=folder / "out.jsonl",
        executor_id=f"bench-{os.getpid()}",
        queue_polling_interval=0.02,
        worker_concurrency=8,
    )
    container = build_container(settings, clock=FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
    tenant = container.ensure_tenant(f"bench{int(time.time())}")
    runtime.launch(container, schedule_sweeps=False)
    try:
        started = time.perf_counter()
        latencies = []
        for offset in range(0, events, batch):
            t0 = time.perf_counter()
            report = ingest(
                container,
                tenant,
                [lead(i) for i in range(offset, min(events, offset + batch))],
                source="bench",
            )
            for handle in report.handles:
                assert handle.get_result()["status"] == "done"
            latencies.append((time.perf_counter() - t0) / max(1, len(report.handles)))
        elapsed = time.perf_counter() - started
        sent = len((folder / "out.jsonl").read_text().splitlines())
        assert sent == events, f"{sent} messages for {events} events"
        return {
            "events": events,
            "seconds": elapsed,
            "events_per_s": events / elapsed,
            "mean_ms_per_event_in_batch": statistics.mean(latencies) * 1000,
        }
    finally:
        runtime.shutdown()
        container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--postgres", default=None, help="also run on this (existing, empty) PostgreSQL database")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(f"sqlite:///{tmp}/bench.db", args.events, args.batch, Path(tmp))
        print(
            f"sqlite    : {figures['events']} lead events in {figures['seconds']:.1f} s = "
            f"{figures['events_per_s']:.1f} events/s end to end (queue, 7 steps, file send)"
        )
    if args.postgres:
        with tempfile.TemporaryDirectory() as tmp:
            figures = run(args.postgres, args.events, args.batch, Path(tmp))
            print(
                f"postgresql: {figures['events']} lead events in {figures['seconds']:.1f} s = "
                f"{figures['events_per_s']:.1f} events/s end to end"
            )


if __name__ == "__main__":
    main()
