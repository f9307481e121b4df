"""The outbox: one row per intended send, keyed by a stable idempotency key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, JSONType, UTCDateTime


class Message(Base):
    """An outbound message: what we intend to send, to whom, why, and what happened to it."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_send_after", "status", "send_after"),
        Index("ix_messages_tenant_contact_created", "tenant_id", "contact_id", "created_at"),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        Index("ix_messages_provider_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    event_key: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[str] = mapped_column(String(300))
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    to_address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    plan: Mapped[str | None] = mapped_column(String(64))
    template: Mapped[str | None] = mapped_column(String(64))
    # Whether the body is the template as rendered (a WhatsApp-approved template) or free text.
    source: Mapped[str] = mapped_column(String(16), default="template")
    # The message plan (task, plan, template, variant, language, tone, call to action): enough to compose it
    # again when it waits for a model that is down.
    plan_context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # When it first had to wait for a model that was down (the failover queue's history).
    waited_for_model_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    variant: Mapped[str | None] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    transport: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # What the provider reported after the send (Twilio status callbacks): queued, sent, delivered, failed...
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error_code: Mapped[str | None] = mapped_column(String(16))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
