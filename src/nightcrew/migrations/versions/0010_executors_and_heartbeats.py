"""executors and heartbeats

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 15:24:02.256233
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nightcrew.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "executors",
        sa.Column("executor_id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recovered_by", sa.String(length=200), nullable=True),
        sa.Column("recovered_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("executor_id", name=op.f("pk_executors")),
    )


def downgrade() -> None:

    op.drop_table("executors")
