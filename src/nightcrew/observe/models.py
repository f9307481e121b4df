"""The audit log: if it is not here, it did not happen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, JSONType, UTCDateTime


class Action(Base):
    """One decision or side effect: what, why, how sure, which model, what it cost, which trace."""

    __tablename__ = "actions"
    __table_args__ = (
        # A step re-run after a crash records its action once.
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_actions_tenant_contact_created", "tenant_id", "contact_id", "created_at"),
        Index("ix_actions_event", "tenant_id", "event_key"),
        Index("ix_actions_tenant_created", "tenant_id", "created_at"),
        Index("ix_actions_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    event_key: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[str | None] = mapped_column(String(300))
    step: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(400))
    input: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    output: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(120))
    tier: Mapped[str | None] = mapped_column(String(32))
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Outcome(Base):
    """What a contact did (replied, booked, cancelled, opted out), linked to the message sent before it."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_outcomes_tenant_kind_at", "tenant_id", "kind", "at"),
        Index("ix_outcomes_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    dedupe_key: Mapped[str] = mapped_column(String(400))
    event_key: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    plan: Mapped[str | None] = mapped_column(String(64))
    template: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(64))
