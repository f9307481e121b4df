"""The event log: every event stored once; its key is the idempotency key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, JSONType, UTCDateTime


class Event(Base):
    """Something that happened (a new lead, an inbound message, a stage change) and its processing status."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_events_status_received", "status", "received_at"),
        Index("ix_events_tenant_contact", "tenant_id", "contact_external_id"),
        Index("ix_events_tenant_received", "tenant_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    key: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="received")
    source: Mapped[str] = mapped_column(String(32), default="api")
    contact_external_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    workflow_id: Mapped[str] = mapped_column(String(300), unique=True)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class WebhookReplayKey(Base):
    """A signature (or delivery id) already accepted: the same signed request is refused until it expires."""

    __tablename__ = "webhook_replay_keys"
    __table_args__ = (Index("ix_webhook_replay_keys_expires", "expires_at"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Executor(Base):
    """A worker process: its heartbeat says it is alive; a stale one's unfinished workflows are recovered."""

    __tablename__ = "executors"

    executor_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovered_by: Mapped[str | None] = mapped_column(String(200))
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
