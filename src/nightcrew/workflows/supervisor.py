"""Executors: each worker process heartbeats; a live worker recovers the unfinished workflows of a dead one.

DBOS recovers a process's own pending workflows when it restarts with the same executor id, but not a
dead executor's from another process (outside its paid cloud). This does that, and only after the dead
executor's heartbeat has been silent long enough: two processes never run the same workflow at once.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime, timedelta

import structlog
from dbos import DBOS

from nightcrew.bootstrap import Container
from nightcrew.db import transaction
from nightcrew.errors import ConfigurationError
from nightcrew.events.repository import ExecutorRepository

log = structlog.get_logger("nightcrew.supervisor")


def _wall() -> datetime:
    # Liveness is about real processes, so it reads the wall clock even when the container's clock is simulated.
    return datetime.now(UTC)


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (a restart after a crash finds its old pid gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    """This process's heartbeat, and the watch over the others'."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.executor_id = container.settings.executor_id
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.interval = container.settings.heartbeat_interval_s
        self.dead_after = timedelta(seconds=container.settings.executor_dead_after_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recovered: list[str] = []

    def register(self) -> None:
        """Claim the executor id; refuse when another live process holds it (a shared id would run work twice)."""
        now = _wall()
        with transaction(self.container.sessions) as session:
            executors = ExecutorRepository(session)
            row = executors.get(self.executor_id)
            alive = (
                row is not None
                and row.stopped_at is None
                and row.heartbeat_at > now - self.dead_after
                and (row.host, row.pid) != (self.host, self.pid)
                # A restart on the same host after a crash finds its old pid gone: that is not a live owner.
                and not (row.host == self.host and not _process_exists(row.pid))
            )
            if alive and row is not None:
                raise ConfigurationError(
                    f"executor id {self.executor_id!r} is in use by a live process (host {row.host}, pid {row.pid}, "
                    f"last heartbeat {row.heartbeat_at.isoformat()}): give each worker its own --executor-id"
                )
            executors.register(self.executor_id, self.host, self.pid, now)

    def start(self) -> None:
        """Register, then beat and watch in a background thread."""
        self.register()
        self._thread = threading.Thread(target=self._run, name="nightcrew-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and mark the executor as stopped (its leftovers go to the next live worker)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval * 2)
        with transaction(self.container.sessions) as session:
            ExecutorRepository(session).stop(self.executor_id, self.pid, _wall())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                self.recover_dead()
            except Exception:  # the next round tries again; a worker must not die of a transient DB error
                log.exception("supervisor.round_failed", executor=self.executor_id)

    def beat(self) -> None:
        """Say this process is alive."""
        with transaction(self.container.sessions) as session:
            if not ExecutorRepository(session).beat(self.executor_id, self.pid, _wall()):
                log.error("supervisor.id_taken", executor=self.executor_id)

    def recover_dead(self) -> list[str]:
        """Recover the pending workflows of executors silent for longer than the dead-after interval."""
        now = _wall()
        cutoff = now - self.dead_after
        claimed: list[str] = []
        with transaction(self.container.sessions) as session:
            executors = ExecutorRepository(session)
            for row in executors.dead(cutoff, self.executor_id):
                if executors.claim_recovery(row.executor_id, cutoff, self.executor_id, now):
                    claimed.append(row.executor_id)
        for dead in claimed:
            handles = DBOS._recover_pending_workflows([dead])
            log.warning("supervisor.recovered", dead_executor=dead, workflows=len(handles), by=self.executor_id)
            self.recovered.append(dead)
        return claimed
