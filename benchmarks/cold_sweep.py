"""The cold-lead sweep over 1,000,000 contacts on PostgreSQL: the claim and the start, as the sweep runs them.

A fresh database is migrated (nightcrew.migrations.upgrade) and filled with COPY in batches by a child process
(so this process's peak memory is the sweep's): N contacts, each with one follow-up row; by default 2% are
pending and due, 48% pending later, 40% done and 10% cancelled. Then the sweep's own code runs until nothing is
due: DueFollowUps.claim_due(now, 500) per batch (one SELECT ... FOR UPDATE SKIP LOCKED and one UPDATE ...
RETURNING, one transaction), and the claimed workflows are enqueued a batch at a time with
nightcrew.workflows.sweeps.enqueue_many (DBOS runs in this process without consuming any queue, so nothing
executes). For comparison: one enqueue per workflow (as the sweep did before) on a sample, two sweeps claiming
at once over the same due set (disjoint, union = all), the per-row claim (one UPDATE each) and a hand-written
UPDATE ... RETURNING. Printed: rows/s, time per batch, peak memory, and EXPLAIN ANALYZE of the claim.

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
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared process harness lives in tests/faults

from tests.faults.processes import PG_ADMIN, create_pg_database, drop_pg_database, load_average, pg_available

from nightcrew.bootstrap import Container
from nightcrew.config import Settings
from nightcrew.crm.models import FollowUp
from nightcrew.crm.repository import DueFollowUps
from nightcrew.db import make_engine, make_session_factory, transaction
from nightcrew.migrations import upgrade
from nightcrew.workflows.followup import followup_workflow, followup_workflow_id
from nightcrew.workflows.runtime import FOLLOWUPS_QUEUE, dbos_config
from nightcrew.workflows.sweeps import BATCH, enqueue_many

# One enqueue per workflow is timed on this many (the rest would take minutes and say nothing new).
ONE_BY_ONE_SAMPLE = 2_000

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


def explain(engine: Engine, captured: Captured, call: Any) -> list[list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement ``call`` runs through the repository (then rolled back)."""
    factory = make_session_factory(engine)
    captured.statements.clear()
    captured.on = True
    session = factory()
    try:
        call(session)
    finally:
        captured.on = False
        session.rollback()
        session.close()
    plans = []
    for statement, parameters in captured.statements:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            rows = raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).fetchall()
            conn.rollback()
        plans.append([str(r[0]) for r in rows])
    return plans


def claim_all(engine: Engine) -> tuple[list[tuple[int, int, str]], list[float]]:
    """Claim everything due, batch by batch, as the sweep does: (tenant, id, workflow id) claimed, s per batch."""
    factory = make_session_factory(engine)
    claimed: list[tuple[int, int, str]] = []
    claim_s: list[float] = []
    while True:
        t0 = time.perf_counter()
        with transaction(factory) as session:
            batch = DueFollowUps(session).claim_due(NOW, BATCH, followup_workflow_id)
        claim_s.append(time.perf_counter() - t0)  # the commit belongs to the claim
        claimed += [(f.tenant_id, f.id, f.workflow_id) for f in batch.claimed]
        if batch.found < BATCH:
            return claimed, claim_s


def start_all(claimed: list[tuple[int, int, str]]) -> list[float]:
    """Enqueue the claimed workflows a batch at a time, as the sweep does; seconds per batch."""
    start_s: list[float] = []
    for i in range(0, len(claimed), BATCH):
        chunk = claimed[i : i + BATCH]
        t0 = time.perf_counter()
        enqueue_many(FOLLOWUPS_QUEUE, followup_workflow, [(wid, (tenant, fid)) for tenant, fid, wid in chunk])
        start_s.append(time.perf_counter() - t0)
    return start_s


def start_one_by_one(claimed: list[tuple[int, int, str]]) -> float:
    """One enqueue (one transaction) per workflow, as the sweep did before (``Queue.enqueue`` under
    ``SetWorkflowID``), under fresh ids; seconds."""
    from dbos import DBOS, SetWorkflowID

    began = time.perf_counter()
    for tenant, fid, wid in claimed:
        with SetWorkflowID(f"one:{wid}"):
            DBOS.enqueue_workflow(FOLLOWUPS_QUEUE, followup_workflow, tenant, fid)
    return time.perf_counter() - began


def two_sweeps_at_once(engine: Engine) -> tuple[list[int], list[int], float]:
    """Two threads claim over the same due set at once, each as one sweep does; the ids each claimed, seconds."""
    factory = make_session_factory(engine)
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]

    def sweep(index: int) -> None:
        barrier.wait()
        while True:
            with transaction(factory) as session:
                batch = DueFollowUps(session).claim_due(NOW, BATCH, followup_workflow_id)
            claimed[index] += [f.id for f in batch.claimed]
            if batch.found < BATCH:
                return

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claimed[0], claimed[1], time.perf_counter() - began


def sweep_unsynchronised(engine: Engine) -> tuple[int, float]:
    """The former per-row claim (one UPDATE each, synchronize_session=False), measured for comparison."""
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
    """The claim as one hand-written UPDATE ... RETURNING per batch, ids built in SQL (the lower bound)."""
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


def _short(line: str, limit: int = 160) -> str:
    """A plan line with its list of 500 ids cut short."""
    return line if len(line) <= limit else f"{line[:limit]} ... ({len(line):,} characters)"


def _median_ms(seconds: list[float]) -> float:
    return sorted(seconds)[len(seconds) // 2] * 1000


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
        plans = explain(engine, captured, lambda s: DueFollowUps(s).claim_due(NOW, BATCH, followup_workflow_id))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        claimed, claim_s = claim_all(engine)
        claim_elapsed = time.perf_counter() - began
        n = len(claimed)
        print(
            f"claim        : {n:,} follow-ups claimed in {claim_elapsed:.2f} s = {n / claim_elapsed:,.0f} rows/s "
            f"({len(claim_s)} batches of up to {BATCH}, the last partial one included); per batch (SELECT ... FOR "
            f"UPDATE SKIP LOCKED + UPDATE ... RETURNING + commit) median {_median_ms(claim_s):.1f} ms, "
            f"max {max(claim_s) * 1000:.1f} ms"
        )
        settings = Settings(database_url=url, executor_id="cold-sweep-bench", api_key="unused")
        container = Container(settings)
        from dbos import DBOS

        from nightcrew.workflows import registry  # noqa: F401  (registers the workflows with DBOS)

        DBOS(config=dbos_config(container))
        DBOS.launch()  # no queue is registered here: the enqueued workflows wait, nothing runs them
        try:
            began = time.perf_counter()
            start_s = start_all(claimed)
            start_elapsed = time.perf_counter() - began
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(
                f"start        : {n:,} workflows enqueued in {start_elapsed:.2f} s = {n / start_elapsed:,.0f}/s "
                f"({len(start_s)} batches of {BATCH}, one DBOS insert each); per batch median "
                f"{_median_ms(start_s):.1f} ms, max {max(start_s) * 1000:.1f} ms"
            )
            total = claim_elapsed + start_elapsed
            print(f"sweep        : claim + start of {n:,} due follow-ups in {total:.2f} s = {n / total:,.0f}/s")
            sample = claimed[:ONE_BY_ONE_SAMPLE]
            one_s = start_one_by_one(sample)
            print(
                f"comparison   : one enqueue per workflow (as before), first {len(sample):,}: {one_s:.2f} s = "
                f"{len(sample) / one_s:,.0f}/s; all {n:,} would take about {n / len(sample) * one_s:.0f} s"
            )
        finally:
            DBOS.destroy(destroy_registry=False)
            container.close()
        print(
            f"peak memory  : {_mb(rss_after):.0f} MiB RSS for this process ({_mb(rss_before):.0f} MiB before the "
            f"sweep: imports, engine)"
        )
        _reset(engine)
        first, second, both_s = two_sweeps_at_once(engine)
        overlap = len(set(first) & set(second))
        whole = set(first) | set(second) == {fid for _, fid, _ in claimed}
        print(
            f"two at once  : two sweeps over the same {n:,} due rows claimed {len(first):,} and {len(second):,} in "
            f"{both_s:.2f} s; claimed by both: {overlap}; union is the whole due set: {whole}"
        )
        stuck_plan = explain(engine, captured, lambda s: DueFollowUps(s).stuck_running(NOW, BATCH))[0]
        _reset(engine)
        plain_claimed, plain_elapsed = sweep_unsynchronised(engine)
        print(
            f"comparison   : the same {plain_claimed:,} rows claimed one UPDATE each (the former claim, with "
            f"synchronize_session=False): {plain_elapsed:.2f} s = {plain_claimed / plain_elapsed:,.0f} rows/s"
        )
        _reset(engine)
        set_claimed, set_elapsed = sweep_set_based(engine)
        print(
            f"comparison   : the same {set_claimed:,} rows claimed with a hand-written UPDATE ... RETURNING per "
            f"batch: {set_elapsed:.2f} s = {set_claimed / set_elapsed:,.0f} rows/s"
        )
        for title, plan in zip(("SELECT ... FOR UPDATE SKIP LOCKED", "UPDATE ... RETURNING"), plans, strict=False):
            print(f"EXPLAIN (ANALYZE, BUFFERS) of DueFollowUps.claim_due(now, 500), first batch, {title}:")
            for line in plan:
                print(f"    {_short(line)}")
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
