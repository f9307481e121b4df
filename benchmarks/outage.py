"""The model provider fails for a window under steady load: messages wait durably, then drain once each.

`nightcrew serve` runs with a playbook whose outreach is drafted by the capable tier only (a simulated
OpenAI-compatible endpoint on 127.0.0.1, no template fallback) and sent by SMS to a webhook receiver. Lead
events arrive at a steady rate; the endpoint answers 503 for the outage window. Printed: messages queued
(waited_for_model_at set), drained, lost, duplicated, and the time from the provider's return to the last
waiting message sent.

Run: .venv/bin/python benchmarks/outage.py [--rate 4] [--duration 60] [--down 10] [--up 40] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import PG_ADMIN, create_pg_database, drop_pg_database, load_average, pg_available
from tests.faults.scenarios import run_outage


def _progress(line: str) -> None:
    print(f"  .. {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=4.0, help="lead events per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--down", type=float, default=10.0, help="the provider fails from this second of the load")
    parser.add_argument("--up", type=float, default=40.0, help="... until this second")
    parser.add_argument("--cooldown", type=float, default=5.0, help="the breaker's cool-down (s)")
    parser.add_argument("--sweep", type=int, default=5, help="NIGHTCREW_SWEEP_INTERVAL_SECONDS (at least 5)")
    parser.add_argument("--llm-rate", type=int, default=5, help="NIGHTCREW_LLM_QUEUE_RATE_PER_SECOND")
    parser.add_argument("--postgres", action="store_true", help=f"run on a fresh database on {PG_ADMIN}")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nightcrew-outage-") as tmp:
        if args.postgres:
            reason = pg_available()
            if reason:
                print(f"skipped: {reason}")
                return
            url = create_pg_database("nightcrew_outage")
        else:
            url = f"sqlite:///{tmp}/outage.db"
        try:
            report = run_outage(
                url,
                Path(tmp),
                rate_per_s=args.rate,
                duration_s=args.duration,
                outage=(args.down, args.up),
                cooldown_s=args.cooldown,
                sweep_s=args.sweep,
                llm_rate=args.llm_rate,
                progress=_progress,
            )
        finally:
            if args.postgres:
                drop_pg_database(url)
    for line in report.lines():
        print(line)
    print(f"load average after     : {load_average()}")
    if report.lost or report.duplicated:
        sys.exit(1)


if __name__ == "__main__":
    main()
