"""All queries about the event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nightcrew.clock import Clock
from nightcrew.db import is_unique_violation
from nightcrew.events.models import Event, Executor, WebhookReplayKey


class EventRepository:
    """Events of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def by_key(self, key: str) -> Event | None:
        """The event with this id."""
        return self.session.scalar(select(Event).where(Event.tenant_id == self.tenant_id, Event.key == key))

    def by_keys(self, keys: Sequence[str]) -> dict[str, Event]:
        """Existing events among ``keys``."""
        if not keys:
            return {}
        rows = self.session.scalars(select(Event).where(Event.tenant_id == self.tenant_id, Event.key.in_(keys)))
        return {row.key: row for row in rows}

    def insert(self, event: Event) -> Event | None:
        """Store an event; None when its id is already known (the id is the idempotency key)."""
        event.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(event)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return None
        return event

    def set_status(self, key: str, status: str, now: datetime, error: str | None = None) -> None:
        """Move an event to ``status``."""
        self.session.execute(
            update(Event)
            .where(Event.tenant_id == self.tenant_id, Event.key == key)
            .values(status=status, updated_at=now, error=error)
        )

    def for_contact(self, external_id: str) -> Sequence[Event]:
        """A contact's events, oldest first."""
        return self.session.scalars(
            select(Event)
            .where(Event.tenant_id == self.tenant_id, Event.contact_external_id == external_id)
            .order_by(Event.occurred_at, Event.id)
        ).all()

    def between(self, since: datetime, until: datetime) -> Sequence[Event]:
        """Events that occurred in [since, until), oldest first."""
        return self.session.scalars(
            select(Event)
            .where(Event.tenant_id == self.tenant_id, Event.occurred_at >= since, Event.occurred_at < until)
            .order_by(Event.occurred_at, Event.id)
        ).all()

    def last_inbound(self, external_id: str) -> Event | None:
        """The contact's most recent inbound message event."""
        return self.session.scalar(
            select(Event)
            .where(
                Event.tenant_id == self.tenant_id,
                Event.contact_external_id == external_id,
                Event.type == "message.received",
            )
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(1)
        )

    def count_by_status(self) -> dict[str, int]:
        """How many events are in each status."""
        rows = self.session.execute(
            select(Event.status, func.count()).where(Event.tenant_id == self.tenant_id).group_by(Event.status)
        ).all()
        return {status: int(n) for status, n in rows}


class StrandedEvents:
    """The sweep's cross-tenant view of events stored but never started (a crash between commit and enqueue)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def received_before(self, cutoff: datetime, limit: int, tenant_id: int | None = None) -> Sequence[Event]:
        """Events still in ``received`` since before ``cutoff`` (of one tenant, when given)."""
        query = select(Event).where(Event.status == "received", Event.received_at < cutoff)
        if tenant_id is not None:
            query = query.where(Event.tenant_id == tenant_id)
        return self.session.scalars(query.order_by(Event.received_at).limit(limit)).all()


class ReplayKeys:
    """Signed requests already accepted (the ReplayGuard of the webhook verifiers), in the caller's transaction."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def first_use(self, key: str, expires_at: datetime) -> bool:
        """True the first time ``key`` is seen (or after its previous use expired), False for a replay."""
        try:
            with self.session.begin_nested():
                self.session.add(WebhookReplayKey(key=key[:300], expires_at=expires_at))
                self.session.flush()
            return True
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
        result = self.session.execute(
            update(WebhookReplayKey)
            .where(WebhookReplayKey.key == key[:300], WebhookReplayKey.expires_at <= self.clock.now())
            .values(expires_at=expires_at)
        )
        return bool(getattr(result, "rowcount", 0))

    def in_use(self, key: str) -> bool:
        """Whether ``key`` was accepted and has not expired (a read: it claims nothing)."""
        return (
            self.session.scalar(
                select(func.count()).where(
                    WebhookReplayKey.key == key[:300], WebhookReplayKey.expires_at > self.clock.now()
                )
            )
            or 0
        ) > 0

    def purge(self, before: datetime) -> int:
        """Forget keys that expired before ``before``."""
        result = self.session.execute(delete(WebhookReplayKey).where(WebhookReplayKey.expires_at < before))
        return int(getattr(result, "rowcount", 0) or 0)


class ExecutorRepository:
    """Worker processes and their heartbeats (wall-clock time: liveness is about real processes)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, executor_id: str) -> Executor | None:
        """One executor's row."""
        return self.session.get(Executor, executor_id)

    def register(self, executor_id: str, host: str, pid: int, now: datetime) -> None:
        """Record this process as the live owner of ``executor_id``."""
        row = self.session.get(Executor, executor_id)
        if row is None:
            self.session.add(Executor(executor_id=executor_id, host=host, pid=pid, started_at=now, heartbeat_at=now))
        else:
            row.host, row.pid, row.started_at, row.heartbeat_at = host, pid, now, now
            row.stopped_at, row.recovered_by, row.recovered_at = None, None, None
        self.session.flush()

    def beat(self, executor_id: str, pid: int, now: datetime) -> bool:
        """Refresh the heartbeat; False when another process took the id over or another executor recovered
        this one's work (it was declared dead: it must stop running workflows).

        The same row is what ``claim_recovery`` updates, so the database orders the two: a beat that lands
        first keeps the executor alive, a recovery that lands first makes every later beat fail.
        """
        result = self.session.execute(
            update(Executor)
            .where(Executor.executor_id == executor_id, Executor.pid == pid, Executor.recovered_by.is_(None))
            .values(heartbeat_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def stop(self, executor_id: str, pid: int, now: datetime) -> None:
        """A graceful shutdown."""
        self.session.execute(
            update(Executor).where(Executor.executor_id == executor_id, Executor.pid == pid).values(stopped_at=now)
        )

    def dead(self, cutoff: datetime, me: str) -> Sequence[Executor]:
        """Executors other than ``me`` whose heartbeat is older than ``cutoff`` (or that stopped), not yet recovered."""
        return self.session.scalars(
            select(Executor).where(
                Executor.executor_id != me,
                Executor.recovered_by.is_(None),
                (Executor.heartbeat_at < cutoff) | Executor.stopped_at.is_not(None),
            )
        ).all()

    def claim_recovery(self, executor_id: str, cutoff: datetime, me: str, now: datetime) -> bool:
        """Take over a dead executor's work; exactly one live executor wins, and never while it beats."""
        result = self.session.execute(
            update(Executor)
            .where(
                Executor.executor_id == executor_id,
                Executor.recovered_by.is_(None),
                (Executor.heartbeat_at < cutoff) | Executor.stopped_at.is_not(None),
            )
            .values(recovered_by=me, recovered_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def all(self) -> Sequence[Executor]:
        """Every executor, most recent heartbeat first."""
        return self.session.scalars(select(Executor).order_by(Executor.heartbeat_at.desc())).all()
