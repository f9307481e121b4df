"""The cost ledger's table: one row per model attempt (or local decision)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, UTCDateTime


class ModelCall(Base):
    """What one attempt cost: provider, model, tokens, USD, latency, task, tenant, contact, outcome."""

    __tablename__ = "model_calls"
    __table_args__ = (
        Index("ix_model_calls_tenant_at", "tenant", "at"),
        Index("ix_model_calls_endpoint_at", "endpoint", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[str] = mapped_column(String(400))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    task: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(120))
    tenant: Mapped[str | None] = mapped_column(String(64))
    contact: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    counterfactual_usd: Mapped[float] = mapped_column(Float, default=0.0)
    counterfactual_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)


class ProviderBreaker(Base):
    """An endpoint's circuit breaker in one process, as of its last change of state (written on transitions)."""

    __tablename__ = "provider_breakers"
    __table_args__ = (UniqueConstraint("endpoint", "base_url", "executor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    # Two playbooks may give different servers the same endpoint name; the URL tells them apart.
    base_url: Mapped[str] = mapped_column(String(400))
    executor_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    times_opened: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
