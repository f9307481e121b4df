"""All queries about tenants, contacts, stages and follow-up due-times."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, case, delete, func, insert, select, union, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nightcrew.clock import Clock
from nightcrew.crm.models import (
    ApiKey,
    Contact,
    ContactActivity,
    ContactSearchTerm,
    CrmImportError,
    CrmSyncCheckpoint,
    FollowUp,
    PipelineStage,
    RateBucket,
    StageChange,
    Tenant,
)
from nightcrew.crm.search import name_terms, search_form
from nightcrew.crm.sync import SyncCheckpoint
from nightcrew.db import Bytewise, is_unique_violation, transaction

ACTIVE_FOLLOWUP = ("pending", "running")


class TenantRepository:
    """Tenants are global: this is the one repository not scoped by tenant."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_slug(self, slug: str) -> Tenant | None:
        """The tenant called ``slug``."""
        return self.session.scalar(select(Tenant).where(Tenant.slug == slug))

    def get(self, tenant_id: int) -> Tenant | None:
        """The tenant with this id."""
        return self.session.get(Tenant, tenant_id)

    def all(self) -> Sequence[Tenant]:
        """Every tenant, by id."""
        return self.session.scalars(select(Tenant).order_by(Tenant.id)).all()

    def add(self, tenant: Tenant) -> Tenant:
        """Insert a tenant (flushes to get its id)."""
        self.session.add(tenant)
        self.session.flush()
        return tenant


class RateBucketRepository:
    """Token buckets shared by the API processes (one row per caller), each taken with one atomic upsert."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def take(self, key: str, *, now: float, rate: float, capacity: float) -> float | None:
        """Take one token from ``key``'s bucket; None when it had one, else the seconds until it will.

        ``rate`` is tokens per second, ``now`` seconds since the epoch. A clock behind the last writer's refills
        nothing rather than draining the bucket.
        """
        bucket = RateBucket.__table__.c
        elapsed = case((bucket.refilled_at < now, now - bucket.refilled_at), else_=0.0)
        grown = bucket.tokens + elapsed * rate
        refilled = case((grown > capacity, capacity), else_=grown)
        dialect = self.session.get_bind().dialect.name
        upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            upsert(RateBucket)
            .values(key=key, tokens=capacity - 1.0, refilled_at=now, allowed=True)
            .on_conflict_do_update(
                index_elements=[bucket.key],
                set_={
                    "tokens": case((refilled >= 1.0, refilled - 1.0), else_=refilled),
                    "refilled_at": case((bucket.refilled_at < now, now), else_=bucket.refilled_at),
                    "allowed": refilled >= 1.0,
                },
            )
            .returning(bucket.tokens, bucket.allowed)
        )
        tokens, allowed = self.session.execute(statement).one()
        return None if allowed else (1.0 - float(tokens)) / rate

    def forget_full(self, *, now: float, rate: float, capacity: float) -> int:
        """Delete the buckets that have refilled completely (a missing bucket is a full one); returns how many."""
        bucket = RateBucket.__table__.c
        full_since = now - capacity / rate
        result = self.session.execute(delete(RateBucket).where(bucket.refilled_at <= full_since))
        return int(getattr(result, "rowcount", 0) or 0)


class ApiKeyRepository:
    """API keys; looked up by hash across tenants (a key names its tenant)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_hash(self, key_hash: str) -> ApiKey | None:
        """The live key with this hash."""
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))

    def add(self, key: ApiKey) -> ApiKey:
        """Store a new key."""
        self.session.add(key)
        self.session.flush()
        return key

    def for_tenant(self, tenant_id: int) -> Sequence[ApiKey]:
        """A tenant's keys, newest first."""
        return self.session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id.desc())
        ).all()

    def get(self, key_id: int) -> ApiKey | None:
        """A key by id."""
        return self.session.get(ApiKey, key_id)

    def touch(self, key_id: int, now: datetime) -> None:
        """Record that a key was used."""
        self.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


class ContactRepository:
    """Contacts of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def by_external_id(self, external_id: str, *, for_update: bool = False) -> Contact | None:
        """The contact the CRM knows as ``external_id``."""
        query = select(Contact).where(Contact.tenant_id == self.tenant_id, Contact.external_id == external_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def get(self, contact_id: int, *, for_update: bool = False) -> Contact | None:
        """The contact with this id, if it belongs to the tenant."""
        query = select(Contact).where(Contact.tenant_id == self.tenant_id, Contact.id == contact_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def by_phone(self, phone: str) -> Contact | None:
        """The contact with this phone number (E.164), if exactly one has it."""
        rows = self.session.scalars(
            select(Contact).where(Contact.tenant_id == self.tenant_id, Contact.phone == phone).limit(2)
        ).all()
        return rows[0] if len(rows) == 1 else None

    def insert(self, contact: Contact) -> Contact | None:
        """Insert a new contact; None when another writer created it first."""
        contact.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(contact)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return None
        self.index_names([contact])
        return contact

    def by_external_ids(self, external_ids: Sequence[str]) -> dict[str, Contact]:
        """Existing contacts among ``external_ids`` (one query for a whole batch)."""
        if not external_ids:
            return {}
        rows = self.session.scalars(
            select(Contact).where(Contact.tenant_id == self.tenant_id, Contact.external_id.in_(external_ids))
        )
        return {row.external_id: row for row in rows}

    def add_all(self, contacts: Sequence[Contact]) -> None:
        """Insert new contacts in bulk."""
        for contact in contacts:
            contact.tenant_id = self.tenant_id
        self.session.add_all(contacts)
        self.session.flush()
        self.index_names(contacts)

    def index_names(self, contacts: Sequence[Contact]) -> None:
        """Rewrite the search terms of these (flushed) contacts from their current names.

        ``insert`` and ``add_all`` do it for new contacts; whoever renames a contact calls it.
        """
        for start in range(0, len(contacts), 500):
            chunk = contacts[start : start + 500]
            self.session.execute(
                delete(ContactSearchTerm).where(ContactSearchTerm.contact_id.in_([c.id for c in chunk]))
            )
            rows = [
                {"contact_id": c.id, "tenant_id": self.tenant_id, "term": term}
                for c in chunk
                for term in name_terms(c.name)
            ]
            if rows:
                self.session.execute(insert(ContactSearchTerm), rows)

    def search(self, query: str | None, *, limit: int, offset: int) -> Sequence[Contact]:
        """Contacts matching ``query`` (see ``matching_ids``), most recently updated first."""
        stmt = select(Contact)
        if query:
            stmt = stmt.where(Contact.id.in_(matching_ids(self.tenant_id, query)))
        else:
            stmt = stmt.where(Contact.tenant_id == self.tenant_id)
        stmt = stmt.order_by(Contact.updated_at.desc(), Contact.id.desc()).limit(limit).offset(offset)
        return self.session.scalars(stmt).all()

    def count(self, query: str | None = None) -> int:
        """How many contacts the tenant has (that match ``query``, when given)."""
        if query:
            matches = matching_ids(self.tenant_id, query).subquery()
            return int(self.session.scalar(select(func.count()).select_from(matches)) or 0)
        return int(self.session.scalar(select(func.count()).where(Contact.tenant_id == self.tenant_id)) or 0)


_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")


def successor(prefix: str) -> str | None:
    """The first string after every string that starts with ``prefix`` (None: nothing is after them)."""
    text = prefix
    while text:
        point = ord(text[-1]) + 1
        if 0xD800 <= point <= 0xDFFF:  # surrogates are not characters: the next one is U+E000
            point = 0xE000
        if point <= 0x10FFFF:
            return text[:-1] + chr(point)
        text = text[:-1]
    return None


def _prefix_range(key: Any, prefix: str) -> list[Any]:
    after = successor(prefix)
    return [key >= prefix] + ([key < after] if after is not None else [])


def _starts_with(tenant_id: int, column: Any, prefix: str) -> Select[int]:
    return select(Contact.id).where(
        Contact.tenant_id == tenant_id, *_prefix_range(Bytewise(func.lower(column)), prefix)
    )


def matching_ids(tenant_id: int, query: str) -> CompoundSelect[int]:
    """Ids of the contacts whose name, from one of its words on, starts with ``query`` (accents and case aside),
    whose email or external id starts with it in any case, or whose phone it is.

    One indexed prefix range per source (migrations 0012 and 0014), united: a substring match would read every
    contact, and one OR over the columns lets SQLite without statistics walk the tenant's contacts in update order
    instead. A phone number is matched in E.164 however it was typed ("+57 300 123-4567").
    """
    prefix = query.strip().lower()
    parts = [_starts_with(tenant_id, column, prefix) for column in (Contact.email, Contact.external_id)]
    folded = search_form(query)
    if folded:
        parts.append(
            select(ContactSearchTerm.contact_id).where(
                ContactSearchTerm.tenant_id == tenant_id, *_prefix_range(Bytewise(ContactSearchTerm.term), folded)
            )
        )
    digits = re.sub(r"\D", "", prefix)
    if _PHONE_LIKE.match(prefix) and len(digits) >= 7:
        parts.append(select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.phone == f"+{digits}"))
    return union(*parts)


class StageRepository:
    """The tenant's pipeline and each contact's stage history."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def replace_pipeline(self, stages: Sequence[tuple[str, str]]) -> None:
        """Make the stored pipeline match the playbook's (name, kind) list, in order."""
        existing = {
            s.name: s
            for s in self.session.scalars(select(PipelineStage).where(PipelineStage.tenant_id == self.tenant_id))
        }
        for position, (name, kind) in enumerate(stages):
            row = existing.pop(name, None)
            if row is None:
                self.session.add(PipelineStage(tenant_id=self.tenant_id, name=name, kind=kind, position=position))
            else:
                row.kind, row.position = kind, position
        for row in existing.values():
            self.session.delete(row)
        self.session.flush()

    def pipeline(self) -> Sequence[PipelineStage]:
        """The stages in pipeline order."""
        return self.session.scalars(
            select(PipelineStage).where(PipelineStage.tenant_id == self.tenant_id).order_by(PipelineStage.position)
        ).all()

    def add_change(self, change: StageChange) -> StageChange:
        """Record a stage move."""
        change.tenant_id = self.tenant_id
        self.session.add(change)
        self.session.flush()
        return change

    def history(self, contact_id: int) -> Sequence[StageChange]:
        """A contact's stage moves, oldest first."""
        return self.session.scalars(
            select(StageChange)
            .where(StageChange.tenant_id == self.tenant_id, StageChange.contact_id == contact_id)
            .order_by(StageChange.changed_at, StageChange.id)
        ).all()


class FollowUpRepository:
    """Durable follow-up due-times of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def active_for_contact(self, contact_id: int) -> FollowUp | None:
        """The contact's pending or running follow-up, if any."""
        return self.session.scalar(
            select(FollowUp).where(
                FollowUp.tenant_id == self.tenant_id,
                FollowUp.contact_id == contact_id,
                FollowUp.status.in_(ACTIVE_FOLLOWUP),
            )
        )

    def insert(self, followup: FollowUp) -> FollowUp | None:
        """Insert a follow-up; None when the contact already has an active one."""
        followup.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(followup)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return None
        return followup

    def get(self, followup_id: int) -> FollowUp | None:
        """A follow-up by id, within the tenant."""
        return self.session.scalar(
            select(FollowUp).where(FollowUp.tenant_id == self.tenant_id, FollowUp.id == followup_id)
        )

    def cancel_active(self, contact_id: int, reason: str, now: datetime) -> int:
        """Cancel the contact's pending follow-ups; returns how many were cancelled."""
        result = self.session.execute(
            update(FollowUp)
            .where(
                FollowUp.tenant_id == self.tenant_id,
                FollowUp.contact_id == contact_id,
                FollowUp.status == "pending",
            )
            .values(status="cancelled", outcome=reason, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def for_contact(self, contact_id: int) -> Sequence[FollowUp]:
        """Every follow-up of a contact, oldest first."""
        return self.session.scalars(
            select(FollowUp)
            .where(FollowUp.tenant_id == self.tenant_id, FollowUp.contact_id == contact_id)
            .order_by(FollowUp.created_at, FollowUp.id)
        ).all()

    def count_by_status(self) -> dict[str, int]:
        """How many follow-ups are in each status."""
        rows = self.session.execute(
            select(FollowUp.status, func.count()).where(FollowUp.tenant_id == self.tenant_id).group_by(FollowUp.status)
        ).all()
        return {status: int(n) for status, n in rows}


class DueFollowUps:
    """The sweep's cross-tenant view of follow-ups that fell due."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def due(self, now: datetime, limit: int, tenant_id: int | None = None) -> Sequence[FollowUp]:
        """Pending follow-ups whose due-time has passed (of one tenant, when given), oldest first."""
        query = select(FollowUp).where(FollowUp.status == "pending", FollowUp.due_at <= now)
        if tenant_id is not None:
            query = query.where(FollowUp.tenant_id == tenant_id)
        return self.session.scalars(query.order_by(FollowUp.due_at, FollowUp.id).limit(limit)).all()

    def next_due(self) -> datetime | None:
        """The earliest due-time among pending follow-ups."""
        return self.session.scalar(select(func.min(FollowUp.due_at)).where(FollowUp.status == "pending"))

    def stuck_running(self, before: datetime, limit: int, tenant_id: int | None = None) -> Sequence[FollowUp]:
        """Follow-ups claimed before ``before`` and still running (their workflow may never have started)."""
        query = select(FollowUp).where(
            FollowUp.status == "running", FollowUp.updated_at < before, FollowUp.workflow_id.is_not(None)
        )
        if tenant_id is not None:
            query = query.where(FollowUp.tenant_id == tenant_id)
        return self.session.scalars(query.order_by(FollowUp.updated_at).limit(limit)).all()

    def claim_due(
        self,
        now: datetime,
        limit: int,
        workflow_id: Callable[[int, int, str], str],
        tenant_id: int | None = None,
    ) -> ClaimedBatch:
        """Move up to ``limit`` due follow-ups from pending to running, oldest first, in one UPDATE ... RETURNING.

        ``workflow_id(id, step_index, kind)`` names each one's workflow. Two sweeps at once never claim the same
        row: the candidates are locked with SKIP LOCKED where the database has it (PostgreSQL: a second sweep
        takes the next rows instead of waiting for these), and the UPDATE re-checks ``status = 'pending'``, so a
        row another sweep claimed since it was read (SQLite, where writers take turns) is not returned.
        """
        query = select(FollowUp.id, FollowUp.step_index, FollowUp.kind).where(
            FollowUp.status == "pending", FollowUp.due_at <= now
        )
        if tenant_id is not None:
            query = query.where(FollowUp.tenant_id == tenant_id)
        candidates = self.session.execute(
            query.order_by(FollowUp.due_at, FollowUp.id).limit(limit).with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            return ClaimedBatch(found=0, claimed=[])
        ids = {row.id: workflow_id(row.id, row.step_index, row.kind) for row in candidates}
        rows = self.session.execute(
            update(FollowUp)
            .where(FollowUp.id.in_(list(ids)), FollowUp.status == "pending")
            .values(status="running", updated_at=now, workflow_id=case(ids, value=FollowUp.id))
            .returning(FollowUp.id, FollowUp.tenant_id, FollowUp.workflow_id)
            .execution_options(synchronize_session=False)
        ).all()
        # RETURNING has no order: keep the oldest first, as the sweep starts them.
        position = {followup_id: i for i, followup_id in enumerate(ids)}
        claimed = [ClaimedFollowUp(int(r.id), int(r.tenant_id), str(r.workflow_id)) for r in rows]
        return ClaimedBatch(found=len(candidates), claimed=sorted(claimed, key=lambda f: position[f.id]))


@dataclass(frozen=True)
class ClaimedFollowUp:
    """A follow-up one sweep claimed: its workflow is this sweep's to start."""

    id: int
    tenant_id: int
    workflow_id: str


@dataclass(frozen=True)
class ClaimedBatch:
    """One claim: how many due rows were read, and those this claim won (the rest another sweep took)."""

    found: int
    claimed: list[ClaimedFollowUp]


def contact_values(contact: Contact) -> dict[str, Any]:
    """A contact as plain values (for workflow step results and the API)."""
    return {
        "id": contact.id,
        "external_id": contact.external_id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "language": contact.language,
        "timezone": contact.timezone,
        "location": contact.location,
        "consent": contact.consent,
        "fields": dict(contact.fields or {}),
        "stage": contact.stage,
        "segment": contact.segment,
        "segment_probability": contact.segment_probability,
        "team": contact.team,
    }


class SyncCheckpoints:
    """Where each tenant's CRM backfill stands (the sync's checkpoint store), one transaction per save."""

    def __init__(self, sessions: sessionmaker[Session], tenant_id: int, clock: Clock) -> None:
        self.sessions = sessions
        self.tenant_id = tenant_id
        self.clock = clock

    def load(self, tenant: str, crm: str) -> SyncCheckpoint | None:
        """The saved checkpoint, if any."""
        with transaction(self.sessions) as session:
            row = session.scalar(
                select(CrmSyncCheckpoint).where(
                    CrmSyncCheckpoint.tenant_id == self.tenant_id, CrmSyncCheckpoint.crm == crm
                )
            )
            return checkpoint_from(row.state) if row is not None else None

    def save(self, tenant: str, crm: str, checkpoint: SyncCheckpoint) -> None:
        """Replace the checkpoint."""
        with transaction(self.sessions) as session:
            row = session.scalar(
                select(CrmSyncCheckpoint).where(
                    CrmSyncCheckpoint.tenant_id == self.tenant_id, CrmSyncCheckpoint.crm == crm
                )
            )
            state = checkpoint_state(checkpoint)
            if row is None:
                session.add(
                    CrmSyncCheckpoint(tenant_id=self.tenant_id, crm=crm, state=state, updated_at=self.clock.now())
                )
            else:
                row.state, row.updated_at = state, self.clock.now()


def checkpoint_state(checkpoint: SyncCheckpoint) -> dict[str, Any]:
    """A checkpoint as JSON."""
    return {
        "cursor": checkpoint.cursor,
        "since": checkpoint.since.isoformat() if checkpoint.since else None,
        "done": checkpoint.done,
        "errors": checkpoint.errors,
        "total": checkpoint.total,
        "finished": checkpoint.finished,
        "high_water": checkpoint.high_water.isoformat() if checkpoint.high_water else None,
    }


def checkpoint_from(state: dict[str, Any]) -> SyncCheckpoint:
    """A checkpoint from its JSON."""
    return SyncCheckpoint(
        cursor=state.get("cursor"),
        since=datetime.fromisoformat(state["since"]) if state.get("since") else None,
        done=int(state.get("done") or 0),
        errors=int(state.get("errors") or 0),
        total=state.get("total"),
        finished=bool(state.get("finished")),
        high_water=datetime.fromisoformat(state["high_water"]) if state.get("high_water") else None,
    )


class ImportErrors:
    """CRM records kept aside because they could not be mapped."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def keep(self, crm: str, record_id: str, errors: list[dict[str, Any]], now: datetime) -> None:
        """Record (or refresh) why a record was kept aside."""
        row = self.session.scalar(
            select(CrmImportError).where(
                CrmImportError.tenant_id == self.tenant_id,
                CrmImportError.crm == crm,
                CrmImportError.record_id == record_id,
            )
        )
        if row is None:
            self.session.add(
                CrmImportError(
                    tenant_id=self.tenant_id, crm=crm, record_id=record_id, errors=errors, first_seen=now, last_seen=now
                )
            )
        else:
            row.errors, row.last_seen = errors, now

    def count(self, crm: str) -> int:
        """How many records of a CRM are kept aside."""
        return int(
            self.session.scalar(
                select(func.count()).where(CrmImportError.tenant_id == self.tenant_id, CrmImportError.crm == crm)
            )
            or 0
        )


class ActivityRepository:
    """Contacts' CRM history (notes, stage moves) of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def keep_new(self, activities: Sequence[ContactActivity]) -> int:
        """Store the activities not stored before (same contact, source and CRM id); how many were new."""
        if not activities:
            return 0
        contact_ids = sorted({a.contact_id for a in activities})
        stored = set(
            self.session.execute(
                select(ContactActivity.contact_id, ContactActivity.source, ContactActivity.external_id).where(
                    ContactActivity.tenant_id == self.tenant_id, ContactActivity.contact_id.in_(contact_ids)
                )
            ).tuples()
        )
        new: dict[tuple[int, str, str], ContactActivity] = {}
        for activity in activities:
            key = (activity.contact_id, activity.source, activity.external_id)
            if key not in stored and key not in new:
                activity.tenant_id = self.tenant_id
                new[key] = activity
        self.session.add_all(new.values())
        self.session.flush()
        return len(new)

    def for_contact(self, contact_id: int) -> Sequence[ContactActivity]:
        """A contact's CRM history, oldest first (items the CRM gave no time come first)."""
        return self.session.scalars(
            select(ContactActivity)
            .where(ContactActivity.tenant_id == self.tenant_id, ContactActivity.contact_id == contact_id)
            .order_by(ContactActivity.occurred_at.is_not(None), ContactActivity.occurred_at, ContactActivity.id)
        ).all()
