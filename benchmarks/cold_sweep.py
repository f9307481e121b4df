"""The cold-lead sweep over 1,000,000 contacts on PostgreSQL: the due query and the claim, as the sweep runs them.

A fresh database is migrated (nightcrew.migrations.upgrade) and filled with COPY in batches by a child process
(so this process's peak memory is the sweep's): N contacts, each with one follow-up row; by default 2% are
pending and due, 48% pending later, 40% done and 10% cancelled. Then the sweep's own queries run until nothing
is due: DueFollowUps.due(now, 500) and DueFollowUps.claim(...) per row, one transaction per batch, as
nightcrew.workflows.sweeps does. Printed: rows/s, time per batch, peak memory, and EXPLAIN ANALYZE of the due
query. For comparison the same rows are claimed again: per row without the ORM's session synchronisation,
and with one set-based UPDATE per batch.

Run: .venv/bin/python benchmarks/cold_sweep.py [--contacts 1000000] [--due-share 0.02] [--pg-admin URL]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import PG_ADMIN, create_pg_database, drop_pg_database, load_average, pg_available

from nightcrew.crm.models import FollowUp
from nightcrew.crm.repository import DueFollowUps
from nightcrew.db import make_engine, make_session_factory, transaction
from nightcrew.migrations import upgrade
from nightcrew.workflows.followup import followup_workflow_id
from nightcrew.workflows.sweeps import BATCH

# The sweep's instant; due-times are spread over the week before it and the weeks after it.
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
COPY_BATCH = 100_000
CONTACT_COLUMNS = (
    "tenant_id, external_id, name, phone, language, timezone, location, consent, fields, stage, segment, "
    "human_takeover, created_at, updated_at"
)
FOLLOWUP_COLUMNS = "tenant_id, contact_id, kind, due_at, status, step_index, workflow_id, created_at, updated_at"


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _followup_state(rng: random.Random, due_share: float) -> tuple[str, datetime]:
    """A follow-up's status and due-time: due now, pending later, or finished history."""
    roll = rng.random()
    if roll < due_share:
        return "pending", NOW - timedelta(seconds=rng.randrange(1, 7 * 86400))
    if roll < 0.5:
        return "pending", NOW + timedelta(seconds=rng.randrange(60, 21 * 86400))
    finished = NOW - timedelta(seconds=rng.randrange(86400, 90 * 86400))
    return ("done" if roll < 0.9 else "cancelled"), finished


def load(url: str, contacts: int, due_share: float, seed: int) -> dict[str, float]:
    """Fill the database with COPY in batches (runs in a child process); timings per table."""
    import psycopg

    rng = random.Random(seed)
    stages = ["new", "contacted", "nurture", "trial_booked"]
    segments = ["hot", "warm", "cold"]
    fields = json.dumps({"child_age": 9, "inquiry_type": "coding_course"})
    created = (NOW - timedelta(days=120)).isoformat()
    timings: dict[str, float] = {}
    with psycopg.connect(_pg(url)) as conn:
        tenant_id = conn.execute(
            "INSERT INTO tenants (slug, name, settings, created_at) VALUES ('sweep', 'Sweep', '{}', %s) RETURNING id",
            (NOW,),
        ).fetchone()
        assert tenant_id is not None
        conn.commit()
        began = time.perf_counter()
        for start in range(0, contacts, COPY_BATCH):
            with conn.cursor().copy(f"COPY contacts ({CONTACT_COLUMNS}) FROM STDIN") as copy:
                for i in range(start, min(contacts, start + COPY_BATCH)):
                    copy.write_row(
                        (
                            tenant_id[0],
                            f"c-{i}",
                            f"Contact {i}",
                            f"+57300{i:07d}",
                            "es",
                            "America/Bogota",
                            "Bogotá, Colombia",
                            "unknown",
                            fields,
                            stages[i % 4],
                            segments[i % 3],
                            False,
                            created,
                            created,
                        )
                    )
            conn.commit()
        timings["contacts_s"] = time.perf_counter() - began
        first_id = conn.execute("SELECT min(id) FROM contacts").fetchone()
        assert first_id is not None
        began = time.perf_counter()
        for start in range(0, contacts, COPY_BATCH):
            with conn.cursor().copy(f"COPY followups ({FOLLOWUP_COLUMNS}) FROM STDIN") as copy:
                for i in range(start, min(contacts, start + COPY_BATCH)):
                    status, due = _followup_state(rng, due_share)
                    wid = f"followup:{first_id[0] + i}:cold" if status != "pending" else None
                    copy.write_row(
                        (tenant_id[0], first_id[0] + i, "cold_check", due.isoformat(), status, 0, wid, created, created)
                    )
            conn.commit()
        timings["followups_s"] = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute("ANALYZE contacts")
        conn.execute("ANALYZE followups")
        conn.commit()
        timings["analyze_s"] = time.perf_counter() - began
    timings["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def _load_in_child(url: str, contacts: int, due_share: float, seed: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: dict[str, float] = pool.apply(load, (url, contacts, due_share, seed))
    return result


class Captured:
    """The SQL statements an engine runs while capturing (to EXPLAIN exactly what the repository sends)."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self.on:
            self.statements.append((statement, parameters))


def explain(engine: Engine, captured: Captured, call: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the first statement ``call`` runs through the repository."""
    factory = make_session_factory(engine)
    captured.statements.clear()
    captured.on = True
    with transaction(factory) as session:
        call(session)
    captured.on = False
    statement, parameters = captured.statements[0]
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        rows = raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).fetchall()
        conn.rollback()
    return [str(r[0]) for r in rows]


def sweep(engine: Engine) -> tuple[int, list[float], list[float]]:
    """Claim everything due, batch by batch, as the sweep does: (claimed, seconds per due query, per claim)."""
    factory = make_session_factory(engine)
    claimed = 0
    due_s: list[float] = []
    claim_s: list[float] = []
    while True:
        with transaction(factory) as session:
            repo = DueFollowUps(session)
            t0 = time.perf_counter()
            rows = repo.due(NOW, BATCH)
            t1 = time.perf_counter()
            for f in rows:
                if repo.claim(f.id, followup_workflow_id(f.id, f.step_index, f.kind), NOW):
                    claimed += 1
            session.flush()
        t2 = time.perf_counter()  # the commit belongs to the claim
        due_s.append(t1 - t0)
        claim_s.append(t2 - t1)
        if not rows:
            return claimed, due_s, claim_s


def sweep_unsynchronised(engine: Engine) -> tuple[int, float]:
    """DueFollowUps.claim's UPDATE with synchronize_session=False: the one-line fix, measured for comparison."""
    factory = make_session_factory(engine)
    claimed = 0
    began = time.perf_counter()
    while True:
        with transaction(factory) as session:
            rows = DueFollowUps(session).due(NOW, BATCH)
            for f in rows:
                result = session.execute(
                    update(FollowUp)
                    .where(FollowUp.id == f.id, FollowUp.status == "pending")
                    .values(
                        status="running", workflow_id=followup_workflow_id(f.id, f.step_index, f.kind), updated_at=NOW
                    )
                    .execution_options(synchronize_session=False)
                )
                claimed += int(getattr(result, "rowcount", 0) or 0)
        if not rows:
            return claimed, time.perf_counter() - began


def sweep_set_based(engine: Engine) -> tuple[int, float]:
    """The same claim as one UPDATE ... RETURNING per batch (the comparison, not what nightcrew runs)."""
    claimed = 0
    began = time.perf_counter()
    with engine.connect() as conn:
        while True:
            ids = conn.execute(
                text(
                    "WITH due AS (SELECT id FROM followups WHERE status = 'pending' AND due_at <= :now "
                    "ORDER BY due_at, id LIMIT :n FOR UPDATE SKIP LOCKED) "
                    "UPDATE followups f SET status = 'running', updated_at = :now, "
                    "workflow_id = 'followup:' || f.id || ':' || CASE WHEN f.kind = 'cold_check' THEN 'cold' "
                    "ELSE f.step_index::text END FROM due WHERE f.id = due.id RETURNING f.id"
                ),
                {"now": NOW, "n": BATCH},
            ).all()
            conn.commit()
            claimed += len(ids)
            if not ids:
                return claimed, time.perf_counter() - began


def _reset(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text("UPDATE followups SET status = 'pending', workflow_id = NULL WHERE status = 'running'")
            ).rowcount
        )


def _mb(kb: float) -> float:
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--due-share", type=float, default=0.02, help="share of contacts with a follow-up due now")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    reason = pg_available(args.pg_admin)
    if reason:
        print(f"skipped: {reason}")
        return
    url = create_pg_database("nightcrew_sweep", args.pg_admin)
    try:
        upgrade(url)
        loaded = _load_in_child(url, args.contacts, args.due_share, args.seed)
        print(
            f"loaded       : {args.contacts:,} contacts in {loaded['contacts_s']:.1f} s and {args.contacts:,} "
            f"follow-ups in {loaded['followups_s']:.1f} s with COPY (batches of {COPY_BATCH:,}); ANALYZE "
            f"{loaded['analyze_s']:.1f} s; loader peak RSS {loaded['peak_rss_mb']:.0f} MiB",
            flush=True,
        )
        engine = make_engine(url)
        captured = Captured(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, count(*) FROM followups GROUP BY status")).all()
            counts = {str(status): int(n) for status, n in rows}
            due_now = int(
                conn.execute(
                    text("SELECT count(*) FROM followups WHERE status = 'pending' AND due_at <= :now"), {"now": NOW}
                ).scalar_one()
            )
            size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size('followups'))")).scalar_one()
        print(f"follow-ups   : {counts}; due now {due_now:,}; table with indexes {size}")
        plan = explain(engine, captured, lambda s: DueFollowUps(s).due(NOW, BATCH))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        claimed, due_s, claim_s = sweep(engine)
        elapsed = time.perf_counter() - began
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        batches = len(due_s) - 1
        print(
            f"sweep        : {claimed:,} follow-ups claimed in {elapsed:.2f} s = {claimed / elapsed:,.0f} rows/s "
            f"({batches} batches of {BATCH}; the last, empty due query included)"
        )
        print(
            f"per batch    : due query median {sorted(due_s)[len(due_s) // 2] * 1000:.1f} ms "
            f"(max {max(due_s) * 1000:.1f}); claim of {BATCH} rows one UPDATE each + commit median "
            f"{sorted(claim_s)[len(claim_s) // 2] * 1000:.1f} ms (max {max(claim_s) * 1000:.1f}); "
            f"share of time in the claim {sum(claim_s) / elapsed:.0%}"
        )
        print(
            f"peak memory  : {_mb(rss_after):.0f} MiB RSS for this process ({_mb(rss_before):.0f} MiB before the "
            f"sweep: imports, engine)"
        )
        stuck_plan = explain(engine, captured, lambda s: DueFollowUps(s).stuck_running(NOW, BATCH))
        _reset(engine)
        plain_claimed, plain_elapsed = sweep_unsynchronised(engine)
        print(
            f"comparison   : the same {plain_claimed:,} rows claimed again, one UPDATE each with "
            f"synchronize_session=False: {plain_elapsed:.2f} s = {plain_claimed / plain_elapsed:,.0f} rows/s"
        )
        _reset(engine)
        set_claimed, set_elapsed = sweep_set_based(engine)
        print(
            f"comparison   : the same {set_claimed:,} rows claimed with one UPDATE ... RETURNING per batch: "
            f"{set_elapsed:.2f} s = {set_claimed / set_elapsed:,.0f} rows/s"
        )
        print("EXPLAIN (ANALYZE, BUFFERS) of DueFollowUps.due(now, 500), first batch:")
        for line in plan:
            print(f"    {line}")
        print("EXPLAIN (ANALYZE, BUFFERS) of DueFollowUps.stuck_running(now, 500), with every due row claimed:")
        for line in stuck_plan:
            print(f"    {line}")
        engine.dispose()
    finally:
        if args.keep:
            print(f"database kept: {url}")
        else:
            drop_pg_database(url, args.pg_admin)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
