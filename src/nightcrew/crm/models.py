"""Tenants, contacts, the pipeline, stage history and follow-up due-times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from nightcrew.db import Base, Bytewise, JSONType, UTCDateTime


class Tenant(Base):
    """A business location: its own playbook, keys and data."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    playbook_path: Mapped[str | None] = mapped_column(String(500))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Contact(Base):
    """A person in the pipeline (in the education business: a parent or guardian)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_contacts_tenant_stage", "tenant_id", "stage"),
        Index("ix_contacts_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_contacts_tenant_phone", "tenant_id", "phone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(200))
    consent: Mapped[str] = mapped_column(String(16), default="unknown")
    consent_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    stage: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str | None] = mapped_column(String(64))
    segment_probability: Mapped[float | None] = mapped_column(Float)
    segment_model: Mapped[str | None] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(64))
    human_takeover: Mapped[bool] = mapped_column(Boolean, default=False)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_outbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The dashboard's contact search: the start of an email or external id in any case (migration 0012); names
# are searched through ContactSearchTerm (migration 0014).
Index("ix_contacts_search_email", Contact.tenant_id, Bytewise(func.lower(Contact.email)))
Index("ix_contacts_search_external_id", Contact.tenant_id, Bytewise(func.lower(Contact.external_id)))


class ContactSearchTerm(Base):
    """A contact's name as the search reads it: folded, from the start of each word (``crm.search.name_terms``)."""

    __tablename__ = "contact_search_terms"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    term: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))


Index("ix_contact_search_terms_term", ContactSearchTerm.tenant_id, Bytewise(ContactSearchTerm.term))


class PipelineStage(Base):
    """A stage of a tenant's pipeline, synced from its playbook."""

    __tablename__ = "pipeline_stages"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)


class StageChange(Base):
    """One move of a contact between stages, and why."""

    __tablename__ = "stage_changes"
    __table_args__ = (
        Index("ix_stage_changes_contact", "contact_id", "changed_at"),
        Index("ix_stage_changes_tenant_changed", "tenant_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_key: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")


class FollowUp(Base):
    """A durable due-time: at ``due_at`` the sweep starts the follow-up workflow, once."""

    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_status_due", "status", "due_at"),
        Index("ix_followups_contact", "contact_id"),
        # A contact is never in two sequences at once.
        Index(
            "uq_followups_one_active_per_contact",
            "contact_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'running')"),
            sqlite_where=text("status IN ('pending', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(32), default="cold_check")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(String(64))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    source_message_id: Mapped[int | None] = mapped_column(Integer)
    workflow_id: Mapped[str | None] = mapped_column(String(300))
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """A tenant's API key: only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant", "tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateBucket(Base):
    """A token bucket shared by every API process: what one caller (an API key, a login address) may still send.

    Times are seconds since the epoch, so the refill is plain arithmetic on SQLite and PostgreSQL alike.
    """

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    allowed: Mapped[bool] = mapped_column(Boolean)


class CrmSyncCheckpoint(Base):
    """Where a CRM backfill got to: a sync interrupted at any point resumes from the last page it stored."""

    __tablename__ = "crm_sync_checkpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "crm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    crm: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CrmImportError(Base):
    """A CRM record that could not be mapped: kept aside with its reasons, the rest of the batch goes on."""

    __tablename__ = "crm_import_errors"
    __table_args__ = (UniqueConstraint("tenant_id", "crm", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    crm: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(200))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactActivity(Base):
    """A contact's history as its CRM recorded it before or beside nightcrew: notes, and stage moves.

    Kept as the CRM gave it (a backfill stores it once: ``external_id`` is the CRM's own id for the item),
    apart from nightcrew's own stage changes and audit log, which say what nightcrew did.
    """

    __tablename__ = "contact_activities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "source", "external_id"),
        Index("ix_contact_activities_contact", "contact_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    # Where it came from: hubspot or gohighlevel.
    source: Mapped[str] = mapped_column(String(32))
    # note, or stage (a value of the CRM's stage property, with the nightcrew stage it maps to in details).
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
