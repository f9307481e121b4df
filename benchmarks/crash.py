"""Exactly-once under SIGKILL: lead events flow while the worker is killed again and again, then every one is checked.

N lead events are posted over HTTP (a sender that retries, as webhook senders do); the process that runs the
workflows is SIGKILLed at random points and restarted with the same executor id, as a supervisor would. The
first kill lands inside a send (the webhook receiver holds the request open). At the end every event must be
``done`` (GET /v1/events/{id}) and the receiver on 127.0.0.1 must have acknowledged exactly one Idempotency-Key
per intended message.

Run: .venv/bin/python benchmarks/crash.py [--events 200] [--kills 50] [--topology serve|worker] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import PG_ADMIN, create_pg_database, drop_pg_database, load_average, pg_available
from tests.faults.scenarios import run_crash


def _progress(line: str) -> None:
    print(f"  .. {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument(
        "--topology",
        choices=["serve", "worker"],
        default="serve",
        help="serve: kill `nightcrew serve` (API and worker); worker: kill `nightcrew worker`, the API stays up",
    )
    parser.add_argument("--postgres", action="store_true", help=f"run on a fresh database on {PG_ADMIN}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-alive", type=float, default=0.1, help="shortest run before a kill (s)")
    parser.add_argument("--max-alive", type=float, default=1.2, help="longest run before a kill (s)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nightcrew-crash-") as tmp:
        if args.postgres:
            reason = pg_available()
            if reason:
                print(f"skipped: {reason}")
                return
            url = create_pg_database("nightcrew_crash")
        else:
            url = f"sqlite:///{tmp}/crash.db"
        try:
            began = time.monotonic()
            report = run_crash(
                url,
                Path(tmp),
                events=args.events,
                kills=args.kills,
                topology=args.topology,
                seed=args.seed,
                alive_s=(args.min_alive, args.max_alive),
                progress=(lambda _: None) if args.quiet else _progress,
            )
        finally:
            if args.postgres:
                drop_pg_database(url)
    for line in report.lines():
        print(line)
    print(f"load average after : {load_average()} ({time.monotonic() - began:.0f} s)")
    if report.lost or report.duplicate_sends:
        sys.exit(1)


if __name__ == "__main__":
    main()
