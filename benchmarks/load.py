"""Sustained webhook ingest: a second process posts lead events to `nightcrew serve` on loopback for 60 s.

The load generator is a separate Python process with a few closed-loop client threads (httpx), one event per
POST /v1/events. Printed: accepted/s, p50/p99 latency, errors, and events lost: after the load the backlog is
left to drain and every accepted id is checked with GET /v1/events/{id}; each must be ``done``.
The API's per-key rate limit (NIGHTCREW_RATE_LIMIT_PER_MINUTE, 1200 by default) is raised for the run.

Run: .venv/bin/python benchmarks/load.py [--seconds 60] [--threads 4] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import PG_ADMIN, create_pg_database, drop_pg_database, load_average, pg_available
from tests.faults.scenarios import run_load


def _progress(line: str) -> None:
    print(f"  .. {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4, help="client threads in the load process")
    parser.add_argument("--concurrency", type=int, default=4, help="NIGHTCREW_WORKER_CONCURRENCY of serve")
    parser.add_argument("--drain-timeout", type=float, default=1800.0, help="how long the backlog may take (s)")
    parser.add_argument("--postgres", action="store_true", help=f"run on a fresh database on {PG_ADMIN}")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nightcrew-load-") as tmp:
        if args.postgres:
            reason = pg_available()
            if reason:
                print(f"skipped: {reason}")
                return
            url = create_pg_database("nightcrew_load")
        else:
            url = f"sqlite:///{tmp}/load.db"
        try:
            report = run_load(
                url,
                Path(tmp),
                seconds=args.seconds,
                threads=args.threads,
                concurrency=args.concurrency,
                drain_timeout_s=args.drain_timeout,
                progress=_progress,
            )
        finally:
            if args.postgres:
                drop_pg_database(url)
    for line in report.lines():
        print(line)
    print(f"load average after: {load_average()}")
    if report.lost or report.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
