"""model call ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:04:36.541900
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nightcrew.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "model_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=400), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("counterfactual_usd", sa.Float(), nullable=False),
        sa.Column("counterfactual_estimated", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_calls")),
        sa.UniqueConstraint("record_id", name=op.f("uq_model_calls_record_id")),
    )
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.create_index("ix_model_calls_endpoint_at", ["endpoint", "at"], unique=False)
        batch_op.create_index("ix_model_calls_tenant_at", ["tenant", "at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_model_calls_tenant_at")
        batch_op.drop_index("ix_model_calls_endpoint_at")

    op.drop_table("model_calls")
