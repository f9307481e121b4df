"""Dashboard page times with 100,000 contacts.

Bulk-loads a fresh database (SQLite, and PostgreSQL when --postgres names a reachable server) with contacts and
what three months of their pipeline leave behind (events, audit-log actions, messages, stage moves, follow-ups,
ledger rows, review items), then times each page through the real app with TestClient and prints p50/p95.
Only the indexes the migrations create are there: what is timed is what an install runs.

    .venv/bin/python benchmarks/dashboard.py [--contacts 100000] [--runs 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, insert, text

from nightcrew.ai.models import ModelCall
from nightcrew.api.app import create_app
from nightcrew.bootstrap import Container
from nightcrew.channels.models import Message
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.crm.models import Contact, ContactSearchTerm, FollowUp, StageChange
from nightcrew.crm.search import name_terms
from nightcrew.events.models import Event
from nightcrew.migrations import upgrade
from nightcrew.observe.models import Action
from nightcrew.review.models import ReviewItem

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
KEY = "bench-admin-key"
CHUNK = 5_000
FIRST = ["Ana", "Luis", "María", "Jorge", "Camila", "Pedro", "Sofía", "João", "Beatriz", "Emma", "Liam", "Valentina"]
LAST = ["García", "Rodríguez", "Martínez", "López", "Silva", "Santos", "Pereira", "Smith", "Gómez", "Díaz"]
STAGES = [
    ("new", 0.35),
    ("contacted", 0.3),
    ("engaged", 0.15),
    ("trial_booked", 0.1),
    ("enrolled", 0.05),
    ("lost", 0.05),
]
LEAD_ACTIONS = [
    ("contact.upserted", "contact.upsert", "new contact"),
    ("lead.classified", "lead.classify", "segment model v3: warm (0.71)"),
    ("plan.chosen", "lead.pick_plan", "most specific plan for segment=warm, stage=new"),
    ("message.composed", "message.compose", "template es/first_touch_warm.j2"),
    ("guardrail.verdict", "message.check", "every check passed"),
    ("message.sent", "message.send", "sent via file as whatsapp"),
    ("followup.scheduled", "followup.schedule", "cold check due 48 h after the message"),
]
REPLY_ACTIONS = [
    ("inbound.understood", "inbound.understand", "language es (detector, 0.94); intent schedule (0.97)"),
    ("inbound.received", "inbound.record", "inbound message; 1 pending follow-up(s) stopped"),
    ("inbound.routed", "inbound.route", "rule 4 (language=es) -> admissions-es"),
]


def _weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


class Loader:
    """Generates one tenant's rows chunk by chunk and inserts them with SQLAlchemy core executemany."""

    def __init__(self, engine: Engine, tenant_id: int, slug: str, seed: int, id_base: int) -> None:
        self.engine = engine
        self.tenant_id = tenant_id
        self.slug = slug
        self.rng = random.Random(seed)
        self.id_base = id_base
        self.counts: dict[str, int] = {}

    def load(self, contacts: int, days: int) -> None:
        """Insert ``contacts`` contacts and their history, spread over the ``days`` before NOW."""
        for start in range(0, contacts, CHUNK):
            rows: dict[Table, list[dict[str, Any]]] = {}
            for i in range(start, min(start + CHUNK, contacts)):
                self._contact(i, days, rows)
            with self.engine.begin() as conn:
                for table, batch in rows.items():
                    # executemany wants the same keys in every row: what a row leaves out is NULL.
                    keys = {k for row in batch for k in row}
                    for row in batch:
                        for key in keys - row.keys():
                            row[key] = None
                    conn.execute(insert(table), batch)
                    self.counts[table.name] = self.counts.get(table.name, 0) + len(batch)

    def _contact(self, i: int, days: int, rows: dict[Table, list[dict[str, Any]]]) -> None:
        rng, tid = self.rng, self.tenant_id
        cid = self.id_base + i + 1
        created = NOW - timedelta(seconds=rng.randrange(days * 86_400))
        external_id = f"{self.slug}-{i:06d}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        language = _weighted(rng, [("es", 0.7), ("pt", 0.2), ("en", 0.1)])
        stage = _weighted(rng, STAGES)
        replied = rng.random() < 0.3
        reply_at = created + timedelta(minutes=rng.randrange(10, 3 * 1440)) if replied else None
        booked_at = (reply_at or created) + timedelta(hours=rng.randrange(1, 72)) if stage == "trial_booked" else None
        sent_at = created + timedelta(seconds=rng.randrange(2, 3600 * 14))

        def add(model: Any, /, **values: Any) -> None:
            rows.setdefault(model.__table__, []).append(values)

        add(
            Contact,
            id=cid,
            tenant_id=tid,
            external_id=external_id,
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower()}{i}@example.com",
            phone=f"+57300{i:07d}",
            language=language,
            timezone="America/Bogota",
            location="Bogotá, Colombia",
            consent="unknown",
            fields={"child_age": rng.randrange(4, 16), "inquiry_type": "coding_course"},
            stage=stage,
            segment=_weighted(rng, [("hot", 0.2), ("warm", 0.6), ("cold", 0.2)]),
            segment_probability=round(rng.uniform(0.4, 0.99), 3),
            segment_model="lead-v3",
            team=f"admissions-{language}",
            human_takeover=False,
            last_inbound_at=reply_at,
            last_outbound_at=sent_at,
            created_at=created,
            updated_at=max(t for t in (created, reply_at, booked_at, sent_at) if t is not None),
        )
        for term in name_terms(f"{first} {last}"):
            add(ContactSearchTerm, contact_id=cid, tenant_id=tid, term=term)
        trace = uuid.uuid4().hex
        events = [("lead.created", created)]
        if reply_at:
            events.append(("message.received", reply_at))
        if booked_at:
            events.append(("stage.changed", booked_at))
        for n, (kind, at) in enumerate(events):
            key = f"evt-{external_id}-{n}"
            add(
                Event,
                tenant_id=tid,
                key=key,
                type=kind,
                occurred_at=at,
                received_at=at,
                updated_at=at,
                status="done",
                source="api",
                contact_external_id=external_id,
                payload={"contact": {"external_id": external_id}},
                workflow_id=f"{self.slug}:{key}",
                trace_id=trace,
            )
        verdict = _weighted(rng, [("pass", 0.96), ("block", 0.02), ("review", 0.01), ("defer", 0.01)])
        wid = f"{self.slug}:evt-{external_id}-0"
        for n, (kind, step, reason) in enumerate(LEAD_ACTIONS):
            output: dict[str, Any] = {"verdict": verdict} if kind == "guardrail.verdict" else {"ok": True}
            add(
                Action,
                tenant_id=tid,
                contact_id=cid,
                event_key=f"evt-{external_id}-0",
                workflow_id=wid,
                step=step,
                kind=kind,
                dedupe_key=f"{wid}:{step}",
                input={"n": n},
                output=output,
                reason=reason if kind != "guardrail.verdict" or verdict == "pass" else f"claims: {verdict}",
                confidence=0.71 if kind == "lead.classified" else None,
                model="lead-v3" if kind == "lead.classified" else None,
                tier="local" if kind in ("lead.classified", "message.composed") else None,
                cost_usd=0.0004 if kind == "message.composed" else 0.0,
                duration_ms=1.5,
                trace_id=trace,
                created_at=created + timedelta(milliseconds=n),
            )
        if reply_at:
            rwid = f"{self.slug}:evt-{external_id}-1"
            for n, (kind, step, reason) in enumerate(REPLY_ACTIONS):
                add(
                    Action,
                    tenant_id=tid,
                    contact_id=cid,
                    event_key=f"evt-{external_id}-1",
                    workflow_id=rwid,
                    step=step,
                    kind=kind,
                    dedupe_key=f"{rwid}:{step}",
                    input={},
                    output={},
                    reason=reason,
                    confidence=0.97 if kind == "inbound.understood" else None,
                    model="nightcrew-intents" if kind == "inbound.understood" else None,
                    cost_usd=0.0,
                    duration_ms=3.0,
                    trace_id=trace,
                    created_at=reply_at + timedelta(milliseconds=n),
                )
        status = {"pass": "sent", "block": "blocked", "review": "review", "defer": "sent"}[verdict]
        messages = [("outreach", created, status)] + ([("reply", reply_at, "sent")] if reply_at else [])
        for n, (purpose, at, state) in enumerate(messages):
            add(
                Message,
                tenant_id=tid,
                contact_id=cid,
                event_key=f"evt-{external_id}-{n}",
                workflow_id=f"{self.slug}:evt-{external_id}-{n}",
                idempotency_key=f"{self.slug}:evt-{external_id}-{n}:message.send",
                purpose=purpose,
                channel="whatsapp",
                to_address=f"+57300{i:07d}",
                language=language,
                plan=f"{purpose}_{language}",
                template=f"{purpose}_warm",
                source="template",
                variant=rng.choice(["A", "B"]),
                segment="warm",
                stage="new",
                path=None,
                subject=None,
                body="Hola, gracias por escribir. ¿Qué le gustaría aprender a su hijo?",
                status=state,
                sent_at=(sent_at if n == 0 else at + timedelta(seconds=5)) if state == "sent" else None,
                attempts=1,
                created_at=at,
                updated_at=at,
            )
            add(
                ModelCall,
                record_id=uuid.uuid4().hex,
                call_id=f"{self.slug}:{external_id}:{n}",
                attempt=1,
                at=at,
                task="compose",
                tier=_weighted(rng, [("local", 0.8), ("fast", 0.15), ("capable", 0.05)]),
                endpoint=_weighted(rng, [("local", 0.8), ("llama-cpp", 0.15), ("openai", 0.05)]),
                provider="openai",
                model="qwen2.5-7b-instruct",
                tenant=self.slug,
                contact=external_id,
                outcome=_weighted(rng, [("ok", 0.95), ("retried", 0.03), ("fell_back", 0.02)]),
                input_tokens=400,
                output_tokens=120,
                cost_usd=round(rng.uniform(0, 0.002), 6),
                counterfactual_usd=0.004,
                counterfactual_estimated=False,
                latency_ms=rng.uniform(200, 2000),
                simulated=False,
            )
        add(
            StageChange,
            tenant_id=tid,
            contact_id=cid,
            from_stage=None,
            to_stage="new",
            changed_at=created,
            event_key=None,
            reason="new contact",
        )
        if booked_at:
            add(
                StageChange,
                tenant_id=tid,
                contact_id=cid,
                from_stage="engaged",
                to_stage="trial_booked",
                changed_at=booked_at,
                event_key=None,
                reason="stage changed in the CRM",
            )
        add(
            FollowUp,
            tenant_id=tid,
            contact_id=cid,
            kind="cold_check",
            due_at=sent_at + timedelta(hours=48),
            status="cancelled" if reply_at else ("pending" if sent_at > NOW - timedelta(hours=48) else "done"),
            step_index=0,
            created_at=sent_at,
            updated_at=sent_at,
        )
        if verdict == "review":
            add(
                ReviewItem,
                tenant_id=tid,
                contact_id=cid,
                kind="message",
                status="open",
                dedupe_key=f"{wid}:review",
                reasons=["claims: an unapproved promise"],
                draft="Le garantizamos resultados en 3 meses.",
                context={"segment": "warm", "language": language},
                deadline=created + timedelta(hours=4),
                event_key=f"evt-{external_id}-0",
                created_at=created,
                correction={},
            )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_pages(
    container: Container, timeline_contact: str, timeline_phone: str, runs: int
) -> list[tuple[str, float, float, float, int]]:
    """Per page: the first request on a fresh app (cold), then p50 and p95 (ms) over ``runs`` after one warm-up."""
    pages = [
        ("overview", "/dashboard"),
        ("contacts page 1", "/dashboard/contacts"),
        ("contacts page 1000", "/dashboard/contacts?page=1000"),
        # A first name about one contact in twelve has (names, emails): the widest search an operator types.
        ("contacts search (common)", "/dashboard/contacts?q=ana"),
        ("contacts search (common) p.20", "/dashboard/contacts?q=ana&page=20"),
        ("contacts search (surname)", "/dashboard/contacts?q=garcia"),
        ("contacts search (1 match)", f"/dashboard/contacts?q={timeline_contact}"),
        ("contacts search (phone)", "/dashboard/contacts?" + urlencode({"q": timeline_phone})),
        ("contact timeline", f"/dashboard/contacts/{timeline_contact}"),
        ("review queue page 1", "/dashboard/review"),
        ("review queue page 10", "/dashboard/review?page=10"),
        ("models", "/dashboard/models"),
        ("outcomes", "/dashboard/outcomes"),
    ]
    results = []
    with TestClient(create_app(container.settings, container=container)) as client:
        form = client.get("/dashboard/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        # Not following the redirect: the overview's first visit is timed below, with its cache still empty.
        form_data = {"api_key": KEY, "csrf_token": token.group(1)}
        login = client.post("/dashboard/login", data=form_data, follow_redirects=False)
        assert login.status_code == 303, login.status_code
        for name, path in pages:
            started = time.perf_counter()
            assert client.get(path).status_code == 200, path
            cold = (time.perf_counter() - started) * 1000
            assert client.get(path).status_code == 200, path
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, path
            results.append((name, cold, _pct(times, 0.5), _pct(times, 0.95), len(response.content)))
    return results


def print_table(title: str, rows: list[tuple[str, float, float, float, int]]) -> None:
    """The page times as a fixed-width table."""
    print(f"\n{title}")
    print(f"  {'page':<30} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>7}")
    for name, cold, p50, p95, size in rows:
        print(f"  {name:<30} {cold:>9.1f} {p50:>8.1f} {p95:>8.1f} {size / 1024:>7.1f}")


def bench(url: str, label: str, contacts: int, days: int, runs: int) -> None:
    """Load one database and time the pages on it."""
    upgrade(url)
    settings = Settings(database_url=url, api_key=KEY, default_tenant="default", executor_id="bench-dashboard")
    container = Container(settings, clock=FakeClock(NOW))
    try:
        tenant = container.ensure_tenant("default", "Bench Academy")
        other = container.ensure_tenant("other", "Other Location")
        started = time.perf_counter()
        loader = Loader(container.engine, tenant.id, tenant.slug, seed=1, id_base=0)
        loader.load(contacts, days)
        # A second tenant with a tenth of the data: every query must filter it out.
        neighbour = Loader(container.engine, other.id, other.slug, seed=2, id_base=contacts)
        neighbour.load(max(1, contacts // 10), days)
        postgres = container.engine.dialect.name == "postgresql"
        if postgres:
            with container.engine.begin() as conn:
                conn.execute(text("SELECT setval(pg_get_serial_sequence('contacts', 'id'), max(id)) FROM contacts"))
                # Autovacuum analyses a loaded table soon after; do it now rather than time a stats-less planner.
                conn.execute(text("ANALYZE"))
        load_s = time.perf_counter() - started
        total = {k: loader.counts.get(k, 0) + neighbour.counts.get(k, 0) for k in loader.counts}
        print(f"\n== {label}: loaded in {load_s:.1f} s")
        print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in sorted(total.items())))
        timeline_contact = f"default-{contacts // 2:06d}"
        # As an operator types it, not as it is stored.
        digits = f"57300{contacts // 2:07d}"
        timeline_phone = f"+{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"
        phase = "migrations' indexes" + (", ANALYZEd" if postgres else ", no ANALYZE (as a fresh SQLite file is)")
        times = time_pages(container, timeline_contact, timeline_phone, runs)
        print_table(f"{label}, {phase}; {runs} runs per page", times)
        if not postgres:
            with container.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            times = time_pages(container, timeline_contact, timeline_phone, runs)
            print_table(f"{label}, after ANALYZE", times)
    finally:
        container.close()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server at ``admin_url``, dropped afterwards."""
    name = f"nightcrew_bench_{uuid.uuid4().hex[:8]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = plain.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark on SQLite (and PostgreSQL when asked)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90, help="history spread over this many days before the clock")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (a fresh database is made and dropped)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    print(f"dashboard benchmark: {args.contacts:,} contacts (+{args.contacts // 10:,} in a second tenant)")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="nightcrew-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            bench(url, "SQLite", args.contacts, args.days, args.runs)
    if args.postgres:
        try:
            with postgres_database(args.postgres) as url:
                bench(url, "PostgreSQL", args.contacts, args.days, args.runs)
        except psycopg.OperationalError as exc:
            print(f"\nPostgreSQL skipped: {exc}")


if __name__ == "__main__":
    main()
