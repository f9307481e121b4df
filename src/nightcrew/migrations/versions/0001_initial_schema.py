"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 13:45:53.489050
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nightcrew.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("playbook_path", sa.String(length=500), nullable=True),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("consent", sa.String(length=16), nullable=False),
        sa.Column("consent_updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("segment_probability", sa.Float(), nullable=True),
        sa.Column("segment_model", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("human_takeover", sa.Boolean(), nullable=False),
        sa.Column("last_inbound_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outbound_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_contacts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("tenant_id", "external_id", name=op.f("uq_contacts_tenant_id_external_id")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_tenant_stage", ["tenant_id", "stage"], unique=False)
        batch_op.create_index("ix_contacts_tenant_updated", ["tenant_id", "updated_at"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("contact_external_id", sa.String(length=200), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_events_tenant_id_key")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_events_workflow_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_status_received", ["status", "received_at"], unique=False)
        batch_op.create_index("ix_events_tenant_contact", ["tenant_id", "contact_external_id"], unique=False)
        batch_op.create_index("ix_events_tenant_received", ["tenant_id", "received_at"], unique=False)

    op.create_table(
        "pipeline_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_pipeline_stages_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_stages")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_pipeline_stages_tenant_id_name")),
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("workflow_id", sa.String(length=300), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=False),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=120), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_actions_contact_id_contacts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_actions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=op.f("uq_actions_tenant_id_dedupe_key")),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index("ix_actions_contact_created", ["contact_id", "created_at"], unique=False)
        batch_op.create_index("ix_actions_event", ["tenant_id", "event_key"], unique=False)
        batch_op.create_index("ix_actions_kind_created", ["kind", "created_at"], unique=False)
        batch_op.create_index("ix_actions_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("path", sa.String(length=64), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("source_message_id", sa.Integer(), nullable=True),
        sa.Column("workflow_id", sa.String(length=300), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_followups_contact_id_contacts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_followups_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_followups_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "uq_followups_one_active_per_contact",
            ["contact_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'running')"),
            sqlite_where=sa.text("status IN ('pending', 'running')"),
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("idempotency_key", sa.String(length=400), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("stage", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_after", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", nightcrew.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("transport", sa.String(length=32), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_messages_contact_id_contacts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_messages_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_messages_idempotency_key")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_contact_created", ["contact_id", "created_at"], unique=False)
        batch_op.create_index("ix_messages_status_send_after", ["status", "send_after"], unique=False)
        batch_op.create_index("ix_messages_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=64), nullable=True),
        sa.Column("to_stage", sa.String(length=64), nullable=False),
        sa.Column("changed_at", nightcrew.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_stage_changes_contact_id_contacts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_stage_changes_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
    )
    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.create_index("ix_stage_changes_contact", ["contact_id", "changed_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_changes_contact")

    op.drop_table("stage_changes")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_tenant_created")
        batch_op.drop_index("ix_messages_status_send_after")
        batch_op.drop_index("ix_messages_contact_created")

    op.drop_table("messages")
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_followups_one_active_per_contact",
            postgresql_where=sa.text("status IN ('pending', 'running')"),
            sqlite_where=sa.text("status IN ('pending', 'running')"),
        )
        batch_op.drop_index("ix_followups_status_due")
        batch_op.drop_index("ix_followups_contact")

    op.drop_table("followups")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_tenant_created")
        batch_op.drop_index("ix_actions_kind_created")
        batch_op.drop_index("ix_actions_event")
        batch_op.drop_index("ix_actions_contact_created")

    op.drop_table("actions")
    op.drop_table("pipeline_stages")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_tenant_received")
        batch_op.drop_index("ix_events_tenant_contact")
        batch_op.drop_index("ix_events_status_received")

    op.drop_table("events")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_updated")
        batch_op.drop_index("ix_contacts_tenant_stage")

    op.drop_table("contacts")
    op.drop_table("tenants")
