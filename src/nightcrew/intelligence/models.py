"""The model registry: every trained lead and intent model, its metrics, and which one is active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, JSONType, UTCDateTime


class ModelVersion(Base):
    """One trained model: where its artifact is, what data made it, how well it did, whether it is live."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "version"),
        Index("ix_model_versions_active", "tenant_id", "kind", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(16))  # 'lead' or 'intent'
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    training_data_hash: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    classes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    data_schema: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    holdout_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    gate: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
