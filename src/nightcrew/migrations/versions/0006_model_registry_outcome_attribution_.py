"""model registry, outcome attribution, longer purposes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:29:59.956885
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nightcrew.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("training_data_hash", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column(
            "classes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "data_schema", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "metrics", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "holdout_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("gate", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("promoted_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_model_versions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("tenant_id", "kind", "version", name=op.f("uq_model_versions_tenant_id_kind_version")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_active", ["tenant_id", "kind", "active"], unique=False)

    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_outcomes_contact_id_contacts")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_outcomes_message_id_messages")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_outcomes_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=op.f("uq_outcomes_tenant_id_dedupe_key")),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_outcomes_message", ["message_id"], unique=False)
        batch_op.create_index("ix_outcomes_tenant_kind_at", ["tenant_id", "kind", "at"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose", existing_type=sa.VARCHAR(length=16), type_=sa.String(length=32), existing_nullable=False
        )


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose", existing_type=sa.String(length=32), type_=sa.VARCHAR(length=16), existing_nullable=False
        )

    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_outcomes_tenant_kind_at")
        batch_op.drop_index("ix_outcomes_message")

    op.drop_table("outcomes")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_model_versions_active")

    op.drop_table("model_versions")
