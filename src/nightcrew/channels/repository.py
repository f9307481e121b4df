"""All queries about the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nightcrew.channels.models import Message
from nightcrew.crm.models import Contact
from nightcrew.db import is_unique_violation


class OutboxRepository:
    """Outbound messages of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def by_idempotency_key(self, key: str) -> Message | None:
        """The message recorded under ``key``."""
        return self.session.scalar(
            select(Message).where(Message.tenant_id == self.tenant_id, Message.idempotency_key == key)
        )

    def by_provider_id(self, provider_message_id: str) -> Message | None:
        """The message the provider knows by this id."""
        return self.session.scalar(
            select(Message).where(
                Message.tenant_id == self.tenant_id, Message.provider_message_id == provider_message_id
            )
        )

    def get(self, message_id: int) -> Message | None:
        """A message by id, within the tenant."""
        return self.session.scalar(select(Message).where(Message.tenant_id == self.tenant_id, Message.id == message_id))

    def insert_once(self, message: Message) -> Message:
        """Insert the message, or return the one already recorded under its idempotency key."""
        message.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(message)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = self.by_idempotency_key(message.idempotency_key)
            if existing is None:
                raise
            return existing
        return message

    def for_contact(self, contact_id: int) -> Sequence[Message]:
        """A contact's messages, oldest first."""
        return self.session.scalars(
            select(Message)
            .where(Message.tenant_id == self.tenant_id, Message.contact_id == contact_id)
            .order_by(Message.created_at, Message.id)
        ).all()

    def unsent_for_contact(
        self, contact_id: int, purposes: Sequence[str], statuses: Sequence[str]
    ) -> Sequence[Message]:
        """A contact's messages of these purposes still in one of ``statuses`` (not sent, not final), oldest first."""
        return self.session.scalars(
            select(Message)
            .where(
                Message.tenant_id == self.tenant_id,
                Message.contact_id == contact_id,
                Message.purpose.in_(purposes),
                Message.status.in_(statuses),
            )
            .order_by(Message.created_at, Message.id)
            .with_for_update()
        ).all()

    def last_sent_message(self, contact_id: int) -> Message | None:
        """The latest message actually sent to a contact."""
        return self.session.scalar(
            select(Message)
            .where(Message.tenant_id == self.tenant_id, Message.contact_id == contact_id, Message.status == "sent")
            .order_by(Message.sent_at.desc(), Message.id.desc())
            .limit(1)
        )

    def last_sent_before(self, contact_id: int, at: datetime, since: datetime) -> Message | None:
        """The latest message sent to a contact in [since, at]: the one an outcome answers."""
        return self.session.scalar(
            select(Message)
            .where(
                Message.tenant_id == self.tenant_id,
                Message.contact_id == contact_id,
                Message.status == "sent",
                Message.sent_at <= at,
                Message.sent_at >= since,
            )
            .order_by(Message.sent_at.desc(), Message.id.desc())
            .limit(1)
        )

    def sent_between(self, since: datetime, until: datetime) -> Sequence[tuple[Message, str]]:
        """Messages sent in [since, until], with their contact's external id (oldest first)."""
        rows = self.session.execute(
            select(Message, Contact.external_id)
            .join(Contact, Contact.id == Message.contact_id)
            .where(
                Message.tenant_id == self.tenant_id,
                Message.status == "sent",
                Message.sent_at >= since,
                Message.sent_at <= until,
            )
            .order_by(Message.sent_at, Message.id)
        ).all()
        return [(message, str(external_id)) for message, external_id in rows]

    def latest(self, contact_id: int) -> Message | None:
        """The latest message written for a contact, sent or not."""
        return self.session.scalar(
            select(Message)
            .where(Message.tenant_id == self.tenant_id, Message.contact_id == contact_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )

    def sent_since(self, contact_id: int, since: datetime) -> Sequence[Message]:
        """Messages actually sent to a contact since ``since`` (for frequency caps)."""
        return self.session.scalars(
            select(Message).where(
                Message.tenant_id == self.tenant_id,
                Message.contact_id == contact_id,
                Message.status == "sent",
                Message.sent_at >= since,
            )
        ).all()

    def count_by_status(self) -> dict[str, int]:
        """How many messages are in each status."""
        rows = self.session.execute(
            select(Message.status, func.count()).where(Message.tenant_id == self.tenant_id).group_by(Message.status)
        ).all()
        return {status: int(n) for status, n in rows}


# Messages waiting for a time: allowed hours or caps ("deferred"), or a model that was down ("awaiting_model").
WAITING_STATUSES = ("deferred", "awaiting_model")


class DueMessages:
    """The sweep's cross-tenant view of waiting messages whose time has come."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def due(self, now: datetime, limit: int, tenant_id: int | None = None) -> Sequence[Message]:
        """Waiting messages due at or before ``now`` (of one tenant, when given), oldest first."""
        query = select(Message).where(Message.status.in_(WAITING_STATUSES), Message.send_after <= now)
        if tenant_id is not None:
            query = query.where(Message.tenant_id == tenant_id)
        return self.session.scalars(query.order_by(Message.send_after, Message.id).limit(limit)).all()

    def next_due(self) -> datetime | None:
        """The earliest due-time among deferred messages."""
        return self.session.scalar(select(func.min(Message.send_after)).where(Message.status.in_(WAITING_STATUSES)))

    def count_waiting_for_model(self) -> int:
        """Messages parked until a model comes back (the failover queue's depth)."""
        return int(self.session.scalar(select(func.count()).where(Message.status == "awaiting_model")) or 0)
