"""nightcrew as real processes for fault, load and scale runs: serve, worker, and an API process that only enqueues.

The benchmarks in ``benchmarks/`` and the smaller tests in this folder share it. Every process is a real child
(``nightcrew serve``, ``nightcrew worker``) talking to a real database; a process dies by SIGKILL, as in production.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
import yaml
from sqlalchemy import Engine, create_engine, text

from nightcrew.playbook import sample_playbook_path

PG_ADMIN = os.environ.get("NIGHTCREW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
Kind = Literal["serve", "worker", "api"]


def pg_available(admin_url: str = PG_ADMIN) -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {admin_url}: {exc}".strip()


def create_pg_database(prefix: str, admin_url: str = PG_ADMIN) -> str:
    """A fresh, empty database on the server behind ``admin_url``; its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+psycopg://{server}/{name}"


def drop_pg_database(url: str, admin_url: str = PG_ADMIN) -> None:
    """Drop a database made by create_pg_database, cutting off stray connections."""
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def open_hours_playbook(folder: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The sample playbook, allowed to send at any hour (runs use the wall clock), then changed by ``edit``."""
    import shutil

    shutil.copytree(sample_playbook_path().parent, folder, dirs_exist_ok=True)
    path = folder / "playbook.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["hours"] = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "23:59",
        "default_timezone": "UTC",
        "holidays": {"enabled": False},
    }
    if edit is not None:
        edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def process_env(
    database_url: str,
    *,
    api_key: str,
    executor_id: str,
    playbook: Path,
    webhook_url: str | None = None,
    outbox: Path | None = None,
    concurrency: int = 4,
    polling_s: float = 0.05,
    sweep_interval_s: int = 60,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The NIGHTCREW_* variables of one process."""
    env = {
        "NIGHTCREW_DATABASE_URL": database_url,
        "NIGHTCREW_API_KEY": api_key,
        "NIGHTCREW_EXECUTOR_ID": executor_id,
        "NIGHTCREW_PLAYBOOK": str(playbook),
        "NIGHTCREW_WORKER_CONCURRENCY": str(concurrency),
        "NIGHTCREW_QUEUE_POLLING_INTERVAL": str(polling_s),
        "NIGHTCREW_SWEEP_INTERVAL_SECONDS": str(sweep_interval_s),
        # Runs here poll and post far above a webhook sender's rate; the limiter is tested elsewhere.
        "NIGHTCREW_RATE_LIMIT_PER_MINUTE": "100000000",
        "NIGHTCREW_LOG_LEVEL": "WARNING",
    }
    if webhook_url:
        env["NIGHTCREW_OUTBOUND_WEBHOOK_URL"] = webhook_url
        env["NIGHTCREW_WEBHOOK_TIMEOUT_S"] = "30"
    if outbox:
        env["NIGHTCREW_OUTBOUND_FILE"] = str(outbox)
    env.update(extra or {})
    return env


class Child:
    """One nightcrew process: ``serve`` (API and worker), ``worker``, or ``api`` (``serve --api-only``)."""

    def __init__(self, kind: Kind, env: Mapping[str, str], cwd: Path, *, port: int | None = None) -> None:
        if kind != "worker" and port is None:
            raise ValueError(f"a {kind} process needs a port")
        self.kind = kind
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.port = port
        self.executor_id = env["NIGHTCREW_EXECUTOR_ID"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []

    @property
    def url(self) -> str:
        """The API's base URL (serve and api processes)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """This start's log file."""
        return self.cwd / f"{self.kind}-{self.executor_id}-{self.starts}.log"

    def _argv(self) -> list[str]:
        exe = str(Path(sys.executable).parent / "nightcrew")
        if self.kind == "serve":
            return [exe, "serve", "--port", str(self.port)]
        if self.kind == "worker":
            return [exe, "worker", "--executor-id", self.executor_id]
        return [exe, "serve", "--api-only", "--port", str(self.port)]

    def start(self, timeout_s: float = 90.0) -> Child:
        """Start and wait until it serves (API) or has launched DBOS and recovered its work (worker)."""
        self.starts += 1
        began = time.monotonic()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self._argv(), cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = began + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: {self.tail()}")
            if self._ready():
                self.start_seconds.append(time.monotonic() - began)
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} did not start in {timeout_s:.0f} s: {self.tail()}")

    def _ready(self) -> bool:
        if self.kind == "worker":
            return f"worker {self.executor_id} running" in self.log.read_text(errors="replace")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def tail(self, chars: int = 3000) -> str:
        """The end of this start's log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory (VmHWM) in MiB; 0 when it is gone."""
        if self.proc is None:
            return 0.0
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far; 0 when it is gone."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def lead_event(event_id: str, n: int) -> dict[str, Any]:
    """A lead.created event for a Colombian parent with a phone number of their own."""
    return {
        "id": event_id,
        "type": "lead.created",
        "occurred_at": "2026-03-02T15:00:00Z",
        "contact": {
            "external_id": f"c-{event_id}",
            "name": "Ana Gómez",
            "phone": f"+57300{n % 10_000_000:07d}",
            "location": "Bogotá, Colombia",
            "fields": {"child_age": 9, "inquiry_type": "coding_course"},
        },
    }


def post_until_accepted(
    client: httpx.Client, url: str, body: Any, *, give_up_after_s: float = 300.0, pause_s: float = 0.2
) -> tuple[int, int]:
    """POST ``body`` until the API answers 200/202 (the event id makes a repeat harmless); (status, attempts)."""
    deadline = time.monotonic() + give_up_after_s
    attempts = 0
    while True:
        attempts += 1
        try:
            response = client.post(url, json=body)
            if response.status_code in (200, 202):
                return response.status_code, attempts
            if response.status_code < 500 and response.status_code != 429:
                raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text[:500]}")
        except httpx.HTTPError:
            pass  # the process is down or restarting: a webhook sender retries
        if time.monotonic() > deadline:
            raise TimeoutError(f"POST {url} not accepted after {attempts} attempts")
        time.sleep(pause_s)


def event_statuses(engine: Engine, keys: Iterable[str] | None = None) -> dict[str, str]:
    """Each event's status, read straight from the event log (all events, or only ``keys``)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, status FROM events")).all()
    wanted = set(keys) if keys is not None else None
    return {str(k): str(s) for k, s in rows if wanted is None or k in wanted}


def count_done(engine: Engine) -> int:
    """How many events are done."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events WHERE status = 'done'")).scalar_one())


def reader(database_url: str) -> Engine:
    """A small engine for reading figures while the processes write."""
    if database_url.startswith("sqlite"):
        return create_engine(database_url, connect_args={"timeout": 30})
    return create_engine(database_url, pool_size=2, max_overflow=2)


def wait_until_done(
    engine: Engine, keys: Sequence[str], timeout_s: float, *, poll_s: float = 0.5, done: Iterable[str] = ("done",)
) -> tuple[dict[str, str], float]:
    """Wait until every event in ``keys`` has a final status; (statuses, seconds waited)."""
    final = set(done)
    began = time.monotonic()
    statuses: dict[str, str] = {}
    while True:
        statuses = event_statuses(engine, keys)
        if len(statuses) == len(keys) and all(s in final for s in statuses.values()):
            break
        if time.monotonic() - began > timeout_s:
            break
        time.sleep(poll_s)
    return statuses, time.monotonic() - began


def api_event(client: httpx.Client, base_url: str, event_id: str) -> dict[str, Any]:
    """GET /v1/events/{id}: status and actions."""
    response = client.get(f"{base_url}/v1/events/{event_id}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def load_average() -> str:
    """The 1, 5 and 15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
