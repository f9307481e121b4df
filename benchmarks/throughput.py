"""Lead events per second end to end (ingest -> durable workflow -> send) and peak memory, per deployment shape.

Legs (``--legs``, all by default):
  inprocess     HTTP-free ingest and the worker in this process, SQLite (batches wait for their results)
  sqlite-1w     an API process that only enqueues + 1 `nightcrew worker` process, sharing a SQLite file
  pg-1w         the same on a fresh PostgreSQL database
  pg-2w         an API process + 2 workers (`--executor-id w1`, `w2`) on one PostgreSQL database
  sqlite-2w     an API process + 2 workers on one SQLite file (not in the default set)
In the process legs every event is posted over HTTP in batches, and the clock runs from the first POST until
the event log says every event is done; the messages go to one JSON-lines outbox per worker. Every leg uses
NIGHTCREW_QUEUE_POLLING_INTERVAL=--polling (0.2 s, the default): DBOS polls each queue at that rate even when
idle, which costs CPU on a small machine.

Run: .venv/bin/python benchmarks/throughput.py [--events N] [--legs inprocess,pg-2w] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import (
    PG_ADMIN,
    Child,
    count_done,
    create_pg_database,
    drop_pg_database,
    lead_event,
    load_average,
    open_hours_playbook,
    pg_available,
    post_until_accepted,
    process_env,
    reader,
)
from tests.support.processes import free_port

from nightcrew.bootstrap import build_container
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.migrations import upgrade
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest

API_KEY = "throughput-key"
DEFAULT_LEGS = ("inprocess", "sqlite-1w", "pg-1w", "pg-2w")
ALL_LEGS = (*DEFAULT_LEGS, "sqlite-2w")


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


def run(
    database_url: str,
    events: int,
    batch: int,
    folder: Path,
    polling_s: float,
    profile: ThreadProfiles | None = None,
) -> dict[str, float]:
    """In-process: ingest a batch, wait for its workflows, next batch."""
    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        outbound_file=folder / "out.jsonl",
        executor_id=f"bench-{os.getpid()}",
        queue_polling_interval=polling_s,
        worker_concurrency=8,
    )
    container = build_container(settings, clock=FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
    tenant = container.ensure_tenant(f"bench{int(time.time())}")
    runtime.launch(container, schedule_sweeps=False)
    try:
        if profile is not None:
            profile.enable()
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
        if profile is not None:
            profile.disable()
        sent = len((folder / "out.jsonl").read_text().splitlines())
        assert sent == events, f"{sent} messages for {events} events"
        return {
            "events": events,
            "seconds": elapsed,
            "events_per_s": events / elapsed,
            "mean_ms_per_event_in_batch": statistics.mean(latencies) * 1000,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    finally:
        runtime.shutdown()
        container.close()


class ThreadProfiles:
    """cProfile for the main thread and every thread started while on: DBOS runs the steps in worker threads,
    so profiling the main thread alone shows only the waiting."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._on = False

    def _hook(self, *_: object) -> None:
        # The first call in a new thread starts that thread's profile (which then replaces this hook there).
        if self._on:
            profile = cProfile.Profile()
            with self._lock:
                self.profiles.append(profile)
            profile.enable()

    def enable(self) -> None:
        """Profile this thread now, and each thread from its first call on (pool threads started earlier too)."""
        self._on = True
        threading.setprofile(self._hook)
        main = cProfile.Profile()
        self.profiles.append(main)
        main.enable()

    def disable(self) -> None:
        """Stop: this thread's profile at once, the others' at their next call (threads still running keep theirs)."""
        self._on = False
        threading.setprofile(None)
        self.profiles[0].disable()

    def report(self, top: int = 40) -> str:
        """The top functions by own time and by cumulative time, summed over every profiled thread."""
        out = io.StringIO()
        stats = pstats.Stats(*self.profiles, stream=out)
        out.write(f"profiled threads: {len(self.profiles)} (time summed over threads)\n")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()


@dataclass
class ProcessFigures:
    """One process leg's figures."""

    events: int
    seconds: float
    posted_s: float
    shares: list[int]
    api_rss_mb: float
    worker_rss_mb: list[float]
    worker_cpu_s: list[float]

    @property
    def events_per_s(self) -> float:
        """Lead events done per second, first POST to last done."""
        return self.events / self.seconds


def run_processes(
    database_url: str, workers: int, events: int, batch: int, folder: Path, polling_s: float
) -> ProcessFigures:
    """An API process that only enqueues and ``workers`` worker processes; events posted over HTTP."""
    upgrade(database_url)
    playbook = open_hours_playbook(folder / "playbook")

    def env(executor_id: str) -> dict[str, str]:
        return process_env(
            database_url,
            api_key=API_KEY,
            executor_id=executor_id,
            playbook=playbook,
            outbox=folder / f"out-{executor_id}.jsonl",
            concurrency=8,
            polling_s=polling_s,
        )

    api = Child("api", env("api"), folder, port=free_port())
    pool = [Child("worker", env(f"w{i + 1}"), folder) for i in range(workers)]
    engine = reader(database_url)
    try:
        api.start()
        for worker in pool:
            worker.start()
        with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120) as client:
            cpu_before = [w.cpu_seconds() for w in pool]
            started = time.perf_counter()
            for offset in range(0, events, batch):
                body = {"events": [lead_event(f"tp-{i}", i) for i in range(offset, min(events, offset + batch))]}
                post_until_accepted(client, f"{api.url}/v1/events", body)
            posted = time.perf_counter() - started
            while count_done(engine) < events:
                if not all(w.alive for w in pool):
                    raise RuntimeError(f"a worker died: {[w.tail() for w in pool]}")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        cpu = [w.cpu_seconds() - before for w, before in zip(pool, cpu_before, strict=True)]
        shares = [_lines(folder / f"out-w{i + 1}.jsonl") for i in range(workers)]
        assert sum(shares) == events, f"{sum(shares)} messages for {events} events"
        rss = [w.peak_rss_mb() for w in pool]
        return ProcessFigures(events, elapsed, posted, shares, api.peak_rss_mb(), rss, cpu)
    finally:
        for worker in pool:
            worker.stop()
        api.stop()
        engine.dispose()


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@contextmanager
def database(backend: str, folder: Path, admin_url: str) -> Iterator[str]:
    """A fresh database of ``backend`` for one leg (a PostgreSQL one is dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/bench.db"
        return
    url = create_pg_database("nightcrew_throughput", admin_url)
    try:
        yield url
    finally:
        drop_pg_database(url, admin_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--legs", default=",".join(DEFAULT_LEGS), help=f"comma-separated, from {', '.join(ALL_LEGS)}")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="where the PostgreSQL legs create their database")
    parser.add_argument(
        "--polling",
        type=float,
        default=0.2,
        help="NIGHTCREW_QUEUE_POLLING_INTERVAL (s); 0.2 is the default; each queue polls at this rate even idle",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the in-process leg (every thread); print the top functions"
    )
    args = parser.parse_args()
    legs = [leg.strip() for leg in args.legs.split(",") if leg.strip()]
    unknown = set(legs) - set(ALL_LEGS)
    if unknown:
        parser.error(f"unknown legs: {', '.join(sorted(unknown))}")
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    pg_reason = pg_available(args.pg_admin) if any(leg.startswith("pg") for leg in legs) else None
    for leg in legs:
        with tempfile.TemporaryDirectory(prefix="nightcrew-throughput-") as tmp:
            folder = Path(tmp)
            if leg == "inprocess":
                profile = ThreadProfiles() if args.profile else None
                with database("sqlite", folder, args.pg_admin) as url:
                    f = run(url, args.events, args.batch, folder, args.polling, profile)
                print(
                    f"inprocess : {f['events']:.0f} lead events in {f['seconds']:.1f} s = {f['events_per_s']:.1f} "
                    f"events/s end to end (SQLite, queue, 7 steps, file send; batches of {args.batch} awaited); "
                    f"peak RSS {f['peak_rss_mb']:.0f} MiB",
                    flush=True,
                )
                if profile is not None:
                    print(profile.report())
                continue
            backend = "sqlite" if leg.startswith("sqlite") else "pg"
            if backend == "pg" and pg_reason:
                print(f"{leg:<10}: skipped: {pg_reason}")
                continue
            workers = int(leg.split("-")[1].rstrip("w"))
            with database(backend, folder, args.pg_admin) as url:
                p = run_processes(url, workers, args.events, args.batch, folder, args.polling)
            rss = ", ".join(f"{m:.0f}" for m in p.worker_rss_mb)
            cpu_ms = sum(p.worker_cpu_s) / p.events * 1000
            print(
                f"{leg:<10}: {p.events} lead events in {p.seconds:.1f} s = {p.events_per_s:.1f} events/s "
                f"end to end over HTTP (posted in {p.posted_s:.1f} s); split between workers {p.shares}; "
                f"worker CPU {cpu_ms:.0f} ms per event; peak RSS api {p.api_rss_mb:.0f} MiB, workers {rss} MiB",
                flush=True,
            )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
