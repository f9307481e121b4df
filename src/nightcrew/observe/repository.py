"""All queries about the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nightcrew.channels.models import Message
from nightcrew.crm.models import FollowUp
from nightcrew.db import is_unique_violation
from nightcrew.events.models import Event
from nightcrew.observe.models import Action, Outcome
from nightcrew.review.models import ReviewItem


class ActionRepository:
    """Audit-log entries of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def insert_once(self, action: Action) -> Action:
        """Record an action; a step re-run after a crash finds the first record and keeps it."""
        action.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(action)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = self.session.scalar(
                select(Action).where(Action.tenant_id == self.tenant_id, Action.dedupe_key == action.dedupe_key)
            )
            if existing is None:
                raise
            return existing
        return action

    def get(self, action_id: int) -> Action | None:
        """An action by id, within the tenant."""
        return self.session.scalar(select(Action).where(Action.tenant_id == self.tenant_id, Action.id == action_id))

    def for_event(self, event_key: str) -> Sequence[Action]:
        """The actions an event produced, in order."""
        return self.session.scalars(
            select(Action)
            .where(Action.tenant_id == self.tenant_id, Action.event_key == event_key)
            .order_by(Action.created_at, Action.id)
        ).all()

    def for_contact(self, contact_id: int) -> Sequence[Action]:
        """A contact's actions, in order."""
        return self.session.scalars(
            select(Action)
            .where(Action.tenant_id == self.tenant_id, Action.contact_id == contact_id)
            .order_by(Action.created_at, Action.id)
        ).all()

    def of_kind_for_contact(self, contact_id: int, kind: str) -> Sequence[Action]:
        """A contact's actions of one kind, oldest first."""
        return self.session.scalars(
            select(Action)
            .where(Action.tenant_id == self.tenant_id, Action.contact_id == contact_id, Action.kind == kind)
            .order_by(Action.created_at, Action.id)
        ).all()

    def outputs_of_kind(self, kind: str) -> list[tuple[dict[str, Any], str]]:
        """(output, reason) of every action of a kind, oldest first (for reports)."""
        rows = self.session.execute(
            select(Action.output, Action.reason)
            .where(Action.tenant_id == self.tenant_id, Action.kind == kind)
            .order_by(Action.created_at, Action.id)
        ).all()
        return [(dict(output or {}), str(reason)) for output, reason in rows]

    def of_kind(self, kind: str) -> Sequence[Action]:
        """Every action of a kind, oldest first (for reports)."""
        return self.session.scalars(
            select(Action)
            .where(Action.tenant_id == self.tenant_id, Action.kind == kind)
            .order_by(Action.created_at, Action.id)
        ).all()

    def count_by_kind(self) -> dict[str, int]:
        """How many actions of each kind."""
        rows = self.session.execute(
            select(Action.kind, func.count()).where(Action.tenant_id == self.tenant_id).group_by(Action.kind)
        ).all()
        return {kind: int(n) for kind, n in rows}


class StatsRepository:
    """Aggregates for reports and the dashboard, all scoped by tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def events_by_status(self) -> dict[str, int]:
        """Event counts per status."""
        rows = self.session.execute(
            select(Event.status, func.count()).where(Event.tenant_id == self.tenant_id).group_by(Event.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def events_by_type(self) -> dict[str, int]:
        """Event counts per type."""
        rows = self.session.execute(
            select(Event.type, func.count()).where(Event.tenant_id == self.tenant_id).group_by(Event.type)
        ).all()
        return {str(kind): int(n) for kind, n in rows}

    def messages_by_status(self) -> dict[str, int]:
        """Outbox counts per status."""
        rows = self.session.execute(
            select(Message.status, func.count()).where(Message.tenant_id == self.tenant_id).group_by(Message.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def sent_by(self, column: str) -> dict[str, int]:
        """Sent messages counted by an outbox column (language, segment, channel, purpose, plan, path)."""
        allowed = {"language", "segment", "channel", "purpose", "plan", "path", "template", "variant"}
        if column not in allowed:
            raise ValueError(f"cannot group messages by {column!r}")
        col = getattr(Message, column)
        rows = self.session.execute(
            select(col, func.count()).where(Message.tenant_id == self.tenant_id, Message.status == "sent").group_by(col)
        ).all()
        return {str(value): int(n) for value, n in rows}

    def deferred_ever(self) -> int:
        """Messages that waited for allowed hours at least once."""
        return int(
            self.session.scalar(
                select(func.count()).where(Message.tenant_id == self.tenant_id, Message.send_after.is_not(None))
            )
            or 0
        )

    def model_waits(self) -> dict[str, int]:
        """Messages that waited for a model, by what became of them."""
        rows = self.session.execute(
            select(Message.status, func.count())
            .where(Message.tenant_id == self.tenant_id, Message.waited_for_model_at.is_not(None))
            .group_by(Message.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def followups_by_status(self) -> dict[str, int]:
        """Follow-up counts per status."""
        rows = self.session.execute(
            select(FollowUp.status, func.count()).where(FollowUp.tenant_id == self.tenant_id).group_by(FollowUp.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

    def followup_endings_by_path(self) -> dict[str, dict[str, int]]:
        """Per follow-up path: how its sequences ended (the outcome recorded on the follow-up), for reports."""
        rows = self.session.execute(
            select(FollowUp.path, FollowUp.outcome, func.count())
            .where(FollowUp.tenant_id == self.tenant_id, FollowUp.path.is_not(None), FollowUp.outcome.is_not(None))
            .group_by(FollowUp.path, FollowUp.outcome)
        ).all()
        endings: dict[str, dict[str, int]] = {}
        for path, outcome, n in rows:
            endings.setdefault(str(path), {})[str(outcome)] = int(n)
        return endings

    def followups_due_by(self, moment: datetime) -> int:
        """Pending follow-ups whose due-time is at or before ``moment``."""
        return int(
            self.session.scalar(
                select(func.count()).where(
                    FollowUp.tenant_id == self.tenant_id,
                    FollowUp.status == "pending",
                    FollowUp.due_at <= moment,
                )
            )
            or 0
        )


OUTCOME_COLUMNS = frozenset({"plan", "template", "variant", "segment", "language", "path", "channel"})


class OutcomeRepository:
    """Outcomes linked to the message before them, and the outcome table."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def insert_once(self, outcome: Outcome) -> Outcome:
        """Record an outcome once (a re-run step finds the first record)."""
        outcome.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(outcome)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = self.session.scalar(
                select(Outcome).where(Outcome.tenant_id == self.tenant_id, Outcome.dedupe_key == outcome.dedupe_key)
            )
            if existing is None:
                raise
            return existing
        return outcome

    def timeline(self) -> list[tuple[int, str, datetime]]:
        """(contact id, kind, at) of every outcome, in time order (for contact-level attribution in reports)."""
        rows = self.session.execute(
            select(Outcome.contact_id, Outcome.kind, Outcome.at)
            .where(Outcome.tenant_id == self.tenant_id)
            .order_by(Outcome.at, Outcome.id)
        ).all()
        return [(int(contact), str(kind), at) for contact, kind, at in rows]

    def table(self, column: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Per value of ``column``: messages sent, and contacts that replied, booked, cancelled, opted out after one."""
        return self.tables((column,), since)[column]

    def tables(self, columns: Sequence[str], since: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        """The outcome table for each of ``columns``, from two grouped queries however many columns are asked for.

        Every message has one value in each column, so per-combination counts (distinct messages) add up to the
        per-column counts exactly.
        """
        unknown = set(columns) - OUTCOME_COLUMNS
        if unknown:
            raise ValueError(f"cannot group outcomes by {sorted(unknown)!r}")
        cols = [getattr(Message, c) for c in columns]
        sent_q = (
            select(*cols, func.count())
            .where(Message.tenant_id == self.tenant_id, Message.status == "sent")
            .group_by(*cols)
        )
        if since is not None:
            sent_q = sent_q.where(Message.sent_at >= since)
        tables: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in columns}
        for *values, count in self.session.execute(sent_q).all():
            for column, value in zip(columns, values, strict=True):
                row = tables[column].setdefault(str(value), {"key": str(value), "sent": 0})
                row["sent"] += int(count)
        outcomes_q = (
            select(*cols, Outcome.kind, func.count(func.distinct(Outcome.message_id)))
            .join(Message, Message.id == Outcome.message_id)
            .where(Outcome.tenant_id == self.tenant_id)
            .group_by(*cols, Outcome.kind)
        )
        if since is not None:
            outcomes_q = outcomes_q.where(Outcome.at >= since)
        for *values, kind, count in self.session.execute(outcomes_q).all():
            for column, value in zip(columns, values, strict=True):
                row = tables[column].setdefault(str(value), {"key": str(value), "sent": 0})
                row[str(kind)] = int(row.get(str(kind), 0)) + int(count)
        return {c: sorted(rows.values(), key=lambda r: -int(r["sent"])) for c, rows in tables.items()}


class QueueDepths:
    """Work waiting across tenants (for the queue-depth gauges)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self, now: datetime) -> dict[str, int]:
        """Events not yet done, messages waiting for their time, follow-ups already due, items waiting for a person."""
        events = self.session.scalar(select(func.count()).where(Event.status.in_(("received", "processing"))))
        waiting = self.session.scalar(select(func.count()).where(Message.status == "deferred"))
        due = self.session.scalar(select(func.count()).where(FollowUp.status == "pending", FollowUp.due_at <= now))
        review = self.session.scalar(select(func.count()).where(ReviewItem.status == "open"))
        return {
            "events": int(events or 0),
            "deferred_messages": int(waiting or 0),
            "followups_due": int(due or 0),
            "review_open": int(review or 0),
        }
