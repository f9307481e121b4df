"""Screenshots of the operator dashboard for docs/: overview, a contact timeline and the review queue.

The data is real workflow output: the demo's simulated week of leads, then three more days in which some
contacts reply (each reply is understood, routed, answered or handed to a person) and some book a trial.
Then the app is served on a free local port and Debian's Chromium takes the pictures.

    .venv/bin/python scripts/screenshots.py [--out docs] [--leads 60] [--days 7]
"""

from __future__ import annotations

import argparse
import random
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from sqlalchemy import func, select

from nightcrew.api.app import create_app
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.clock import FakeClock
from nightcrew.config import Settings
from nightcrew.crm.models import Contact
from nightcrew.db import transaction
from nightcrew.observe.models import Action
from nightcrew.simulate.llm_endpoint import SimulatedLLMEndpoint
from nightcrew.simulate.llm_responder import SimulatedModel
from nightcrew.simulate.month import DemoOptions, run
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[1]
# What parents write back, by language: questions the templates answer, and messages a person must handle.
REPLIES = {
    "es": [
        "¿Qué horarios tienen para niños de 9 años?",
        "¿Cuánto cuesta el curso al mes?",
        "Quiero agendar la clase de prueba para el sábado",
        "Me cobraron dos veces este mes, necesito el reembolso",
        "ok",
        "Ya no me interesa, por favor no me escriban más",
    ],
    "pt": ["Quais são os horários das aulas?", "Quanto custa por mês?", "Quero agendar a aula experimental"],
    "en": ["What times do you have on Saturdays?", "How much is it per month?", "Please stop messaging me"],
}


def latest_moment(container: Container) -> datetime:
    """The last instant the demo recorded anything (its clock's end)."""
    with transaction(container.sessions) as session:
        last: datetime | None = session.scalar(select(func.max(Action.created_at)))
    if last is None:
        raise SystemExit("the demo recorded nothing")
    return last


def _settle(container: Container) -> None:
    for _ in range(5):
        report = run_sweep(container, direct=True)
        report.wait()
        if not report.handles:
            return


def _feed(container: Container, tenant: TenantRef, event: dict[str, Any]) -> None:
    report = ingest(container, tenant, [event], source="demo", direct=True)
    for handle in report.handles:
        handle.get_result()
    _settle(container)


def three_more_days(database_url: str, folder: Path, seed: int, playbook: Path) -> tuple[datetime, str]:
    """Replies and bookings after the demo week, through the real workflows; returns the end and a busy contact.

    The demo's simulated model endpoint stopped with the demo: one is started again for these days and the
    demo's playbook (the tenant's) is pointed at it, or every reply would wait for a model that never returns.
    """
    settings = Settings(
        database_url=database_url,
        outbound_file=folder / "outbox.jsonl",
        outbound_channel="file",
        executor_id="nightcrew-screenshots",
    )
    probe = Container(settings)
    start = latest_moment(probe) + timedelta(minutes=1)
    probe.close()
    clock = FakeClock(start)
    endpoint = SimulatedLLMEndpoint(responder=SimulatedModel(seed), time_scale=0.0, clock=clock).start()
    data = yaml.safe_load(playbook.read_text(encoding="utf-8"))
    for tier in data["routing"]["tiers"].values():
        for entry in tier:
            if entry.get("simulated"):
                entry["base_url"] = endpoint.openai_base_url
    playbook.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    container = Container(settings, clock=clock)
    tenant = container.tenant(settings.default_tenant)
    rng = random.Random(seed)
    runtime.launch(container, schedule_sweeps=False)
    try:
        with transaction(container.sessions) as session:
            people = session.execute(
                select(Contact.external_id, Contact.language).where(Contact.tenant_id == tenant.id).order_by(Contact.id)
            ).all()
        repliers = rng.sample(people, k=max(3, len(people) // 3))
        bookers = set(rng.sample([p.external_id for p in repliers], k=max(1, len(repliers) // 3)))
        first_day = start.replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=1)
        # Replies arrive through the afternoon and evening (UTC) of the three days after the demo.
        arrivals = sorted(
            (first_day + timedelta(days=i % 3, minutes=rng.randrange(0, 8 * 60)), person)
            for i, person in enumerate(repliers)
        )
        for n, (moment, person) in enumerate(arrivals, start=1):
            clock.set(max(clock.now(), moment))
            texts = REPLIES.get(person.language or "es", REPLIES["es"])
            text = texts[rng.randrange(len(texts))]
            _feed(container, tenant, _message(f"shot-reply-{n}", person.external_id, text, clock.now()))
            if person.external_id in bookers:
                clock.advance(timedelta(minutes=rng.randrange(20, 90)))
                booked = _stage(f"shot-stage-{n}", person.external_id, "trial_booked", clock.now())
                _feed(container, tenant, booked)
        clock.advance(timedelta(minutes=10))
        _settle(container)
        busy = sorted(bookers)[0]
        return clock.now(), busy
    finally:
        runtime.shutdown()
        container.close()
        endpoint.stop()


def _message(event_id: str, external_id: str, text: str, at: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "message.received",
        "occurred_at": at.isoformat(),
        "contact": {"external_id": external_id},
        "data": {"channel": "whatsapp", "text": text},
    }


def _stage(event_id: str, external_id: str, to: str, at: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "stage.changed",
        "occurred_at": at.isoformat(),
        "contact": {"external_id": external_id},
        "data": {"to": to, "reason": "trial class booked in the CRM"},
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(container: Container) -> Iterator[str]:
    """The app over ``container`` on a free local port, in a background thread."""
    port = _free_port()
    app = create_app(container.settings, container=container)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def shoot(database_url: str, folder: Path, now: datetime, contact: str, out: Path) -> list[Path]:
    """Log in with a one-off admin key and photograph the three pages."""
    from playwright.sync_api import FloatRect, sync_playwright

    key = secrets.token_urlsafe(24)
    settings = Settings(
        database_url=database_url,
        api_key=key,
        outbound_file=folder / "outbox.jsonl",
        executor_id="nightcrew-screenshots",
    )
    container = Container(settings, clock=FakeClock(now))
    out.mkdir(parents=True, exist_ok=True)
    shots = [out / "dashboard-overview.png", out / "dashboard-timeline.png", out / "dashboard-review.png"]
    try:
        with serve(container) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
            page.goto(f"{base}/dashboard/login")
            page.fill("#api_key", key)
            page.click("form[action='/dashboard/login'] button[type=submit]")
            page.wait_for_url(f"{base}/dashboard")
            page.screenshot(path=str(shots[0]), full_page=True)
            page.goto(f"{base}/dashboard/contacts/{contact}")
            # Long pages are cut at a height a README can show; the top holds what the picture is for.
            top: FloatRect = {"x": 0, "y": 0, "width": 1280, "height": 1400}
            page.screenshot(path=str(shots[1]), full_page=True, clip=top)
            page.goto(f"{base}/dashboard/review")
            # Show the edit form of the first item that has a draft, as a reviewer would see it open.
            editable = page.locator("article.review details summary", has_text="Edit and approve")
            if editable.count():
                editable.first.click()
            page.screenshot(path=str(shots[2]), full_page=True, clip=top)
            browser.close()
    finally:
        container.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    """Build the demo data and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNG files")
    parser.add_argument("--leads", type=int, default=60)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nightcrew-shots-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'demo.db'}"
        options = DemoOptions(
            leads=args.leads,
            days=args.days,
            seed=args.seed,
            database_url=url,
            outbox_path=folder / "demo-outbox.jsonl",
            work_dir=folder / "demo-files",
        )
        run(options)
        end, contact = three_more_days(url, folder, args.seed, options.work_dir / "playbook" / "playbook.yaml")
        for path in shoot(url, folder, end, contact, args.out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
