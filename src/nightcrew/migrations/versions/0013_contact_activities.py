"""contact activities: CRM notes and stage history kept by the backfill

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nightcrew.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "contact_activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("occurred_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_activities_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_contact_activities_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_activities")),
        sa.UniqueConstraint(
            "tenant_id",
            "contact_id",
            "source",
            "external_id",
            name=op.f("uq_contact_activities_tenant_id_contact_id_source_external_id"),
        ),
    )
    with op.batch_alter_table("contact_activities", schema=None) as batch_op:
        batch_op.create_index("ix_contact_activities_contact", ["contact_id", "occurred_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("contact_activities", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_activities_contact")
    op.drop_table("contact_activities")
