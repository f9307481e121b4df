"""indexes for timelines and daily counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 15:22:27.707305
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actions_contact_created"))
        batch_op.create_index(
            "ix_actions_tenant_contact_created", ["tenant_id", "contact_id", "created_at"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_contact_created"))
        batch_op.create_index(
            "ix_messages_tenant_contact_created", ["tenant_id", "contact_id", "created_at"], unique=False
        )

    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.create_index("ix_stage_changes_tenant_changed", ["tenant_id", "changed_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_changes_tenant_changed")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_tenant_contact_created")
        batch_op.create_index(batch_op.f("ix_messages_contact_created"), ["contact_id", "created_at"], unique=False)

    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_tenant_contact_created")
        batch_op.create_index(batch_op.f("ix_actions_contact_created"), ["contact_id", "created_at"], unique=False)
