"""provider breakers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 02:25:31
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nightcrew.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_breakers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=400), nullable=False),
        sa.Column("executor_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("times_opened", sa.Integer(), nullable=False),
        sa.Column("opened_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retry_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_breakers")),
        sa.UniqueConstraint(
            "endpoint", "base_url", "executor_id", name=op.f("uq_provider_breakers_endpoint_base_url_executor_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_breakers")
