"""Executors: each worker process heartbeats; a live worker recovers the unfinished workflows of a dead one.

DBOS recovers a process's own pending workflows when it restarts with the same executor id, but not a
dead executor's from another process (outside its paid cloud). This does that, and only after the dead
executor's heartbeat has been silent long enough: two processes never run the same workflow at once.

The other half of that promise is the fence. A worker whose heartbeats stopped reaching the database (a
partition, a process paused longer than the dead-after interval) may have been declared dead and its work
recovered elsewhere; it cannot tell from inside the partition. So it stops before anyone may declare it
dead: once its last heartbeat that reached the database is older than the fence interval (the dead-after
interval less one beat), or once a beat finds its work recovered by another executor, it exits at once with
``FENCED_EXIT_CODE``. No step starts in between (``check_fence`` runs before each). The process manager
starts it again fresh: it registers anew and DBOS recovers what is still its own (pending under its id);
what another executor recovered is no longer pending under its id.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NoReturn

import structlog
from dbos import DBOS

from nightcrew.bootstrap import Container
from nightcrew.db import transaction
from nightcrew.errors import ConfigurationError
from nightcrew.events.repository import ExecutorRepository

log = structlog.get_logger("nightcrew.supervisor")

# EX_TEMPFAIL: not a crash, but "start me again" (systemd's Restart=on-failure, Kubernetes, a shell loop).
FENCED_EXIT_CODE = 75


def _exit_now(code: int) -> NoReturn:
    """Leave the process at once: no clean-up that could run another step or write to the database."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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

    def __init__(self, container: Container, *, exit: Callable[[int], NoReturn] = _exit_now) -> None:
        self.container = container
        self.clock = container.wall_clock
        self.executor_id = container.settings.executor_id
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.interval = container.settings.heartbeat_interval_s
        self.dead_after = timedelta(seconds=container.settings.executor_dead_after_s)
        # Stop one beat before anyone may call this executor dead (never later than half the interval).
        self.fence_after = self.dead_after - min(timedelta(seconds=self.interval), self.dead_after / 2)
        self._exit = exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The instant written by the last heartbeat that reached the database: what other executors judge by.
        self.last_beat: datetime | None = None
        self.recovered: list[str] = []

    def register(self) -> None:
        """Claim the executor id; refuse when another live process holds it (a shared id would run work twice)."""
        now = self.clock.now()
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
        self.last_beat = now

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
            ExecutorRepository(session).stop(self.executor_id, self.pid, self.clock.now())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_fence()
            try:
                self.beat()
                self.recover_dead()
            except Exception:  # the next round tries again; a worker must not die of a transient DB error
                log.exception("supervisor.round_failed", executor=self.executor_id)

    def lapsed(self) -> timedelta | None:
        """How long since the last heartbeat reached the database, once that is past the fence interval."""
        if self.last_beat is None:
            return None
        silent = self.clock.now() - self.last_beat
        return silent if silent > self.fence_after else None

    def check_fence(self) -> None:
        """Exit at once when the heartbeat lapsed: another executor may already be running this one's work."""
        silent = self.lapsed()
        if silent is not None and not self._stop.is_set():
            self.fence(
                f"no heartbeat reached the database for {silent.total_seconds():.1f} s (the fence is at "
                f"{self.fence_after.total_seconds():.1f} s, other executors may recover this one's work after "
                f"{self.dead_after.total_seconds():.1f} s)"
            )

    def fence(self, reason: str) -> NoReturn:
        """Stop running workflows now: log why and leave the process with ``FENCED_EXIT_CODE``."""
        log.critical(
            "supervisor.fenced",
            executor=self.executor_id,
            pid=self.pid,
            reason=reason,
            exit_code=FENCED_EXIT_CODE,
            action="exiting at once so that no two executors run the same workflow; restart this worker",
        )
        self._exit(FENCED_EXIT_CODE)

    def beat(self) -> None:
        """Say this process is alive; fence it when the database says its work went to another executor."""
        now = self.clock.now()
        with transaction(self.container.sessions) as session:
            executors = ExecutorRepository(session)
            if executors.beat(self.executor_id, self.pid, now):
                self.last_beat = now
                return
            row = executors.get(self.executor_id)
            if row is None:
                reason = f"the row of executor {self.executor_id!r} is gone"
            elif row.pid != self.pid or row.host != self.host:
                reason = f"another process (host {row.host}, pid {row.pid}) holds executor id {self.executor_id!r}"
            else:
                reason = f"executor {row.recovered_by!r} declared this one dead and recovered its workflows"
        self.fence(reason)

    def recover_dead(self) -> list[str]:
        """Recover the pending workflows of executors silent for longer than the dead-after interval."""
        now = self.clock.now()
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
