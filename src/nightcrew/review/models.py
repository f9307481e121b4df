"""The human review queue and the labelled examples reviewers' corrections become."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, JSONType, UTCDateTime


class ReviewItem(Base):
    """Something the agent will not do alone: a draft to approve, edit or reject, or a conversation to hand over."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_review_items_tenant_status", "tenant_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    dedupe_key: Mapped[str] = mapped_column(String(400))
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    draft: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    workflow_id: Mapped[str | None] = mapped_column(String(300))
    event_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    final_text: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class LabelledExample(Base):
    """A label a person gave (a segment for a lead's fields, an intent for a message): training data."""

    __tablename__ = "labelled_examples"
    __table_args__ = (Index("ix_labelled_examples_tenant_kind", "tenant_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    features: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    predicted: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
