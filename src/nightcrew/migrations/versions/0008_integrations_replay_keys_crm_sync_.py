"""integrations: replay keys, crm sync, delivery status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 15:01:22.697429
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nightcrew.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "webhook_replay_keys",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("expires_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_webhook_replay_keys")),
    )
    with op.batch_alter_table("webhook_replay_keys", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_replay_keys_expires", ["expires_at"], unique=False)

    op.create_table(
        "crm_import_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("crm", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column(
            "errors", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("first_seen", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_crm_import_errors_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_import_errors")),
        sa.UniqueConstraint("tenant_id", "crm", "record_id", name=op.f("uq_crm_import_errors_tenant_id_crm_record_id")),
    )
    op.create_table(
        "crm_sync_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("crm", sa.String(length=32), nullable=False),
        sa.Column(
            "state", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_crm_sync_checkpoints_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sync_checkpoints")),
        sa.UniqueConstraint("tenant_id", "crm", name=op.f("uq_crm_sync_checkpoints_tenant_id_crm")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_tenant_phone", ["tenant_id", "phone"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_messages_provider_id", ["provider_message_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_provider_id")
        batch_op.drop_column("delivery_updated_at")
        batch_op.drop_column("delivery_error_code")
        batch_op.drop_column("delivery_status")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_phone")

    op.drop_table("crm_sync_checkpoints")
    op.drop_table("crm_import_errors")
    with op.batch_alter_table("webhook_replay_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_replay_keys_expires")

    op.drop_table("webhook_replay_keys")
