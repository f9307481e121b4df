"""Backfill contacts from a CRM page by page, resumable: each page is handed on, then its cursor is saved.

Order matters for exactly-once: the page's events reach the sink (which stores them, deduplicated by their
deterministic ids) before the checkpoint moves past the page. A crash in between re-reads one page; the
repeated events carry the same ids, so nothing is imported twice.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from nightcrew.clock import Clock, SystemClock
from nightcrew.crm.connectors.base import CrmConnector, CrmNote, CrmStageChange, epoch_ms
from nightcrew.crm.connectors.http import CrmApiError
from nightcrew.crm.mapping import CrmMapping, MappedContact, RecordError, lead_created_event, map_record
from nightcrew.crm.models import ContactActivity

Progress = Callable[[int, int | None], None]
# A note nightcrew wrote back itself (see note_marker): its decision is in the audit log already.
_OWN_NOTE = re.compile(r"\[nightcrew:[0-9a-f]{16}\]")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class SyncCheckpoint:
    """Where a sync of one tenant's CRM stands."""

    cursor: str | None
    since: datetime | None
    done: int = 0
    errors: int = 0
    total: int | None = None
    finished: bool = False
    # The newest modification time seen: a later incremental sync can pass it as ``since``.
    high_water: datetime | None = None


class SyncCheckpointStore(Protocol):
    """Keeps one checkpoint per (tenant, CRM); the lead backs it with a table."""

    def load(self, tenant: str, crm: str) -> SyncCheckpoint | None: ...

    def save(self, tenant: str, crm: str, checkpoint: SyncCheckpoint) -> None: ...


class InMemoryCheckpointStore:
    """A checkpoint store for tests and one-off runs."""

    def __init__(self) -> None:
        self._saved: dict[tuple[str, str], SyncCheckpoint] = {}
        self._lock = threading.Lock()
        self.saves = 0

    def load(self, tenant: str, crm: str) -> SyncCheckpoint | None:
        """The saved checkpoint, if any."""
        with self._lock:
            return self._saved.get((tenant, crm))

    def save(self, tenant: str, crm: str, checkpoint: SyncCheckpoint) -> None:
        """Replace the checkpoint."""
        with self._lock:
            self._saved[(tenant, crm)] = checkpoint
            self.saves += 1


@dataclass(frozen=True)
class SyncPage:
    """One page's outcome: lead.created event dicts, records kept aside, the new checkpoint, and (when asked)
    each contact's history by external id: its notes and its stage property's past values."""

    events: list[dict[str, Any]]
    errors: list[RecordError]
    checkpoint: SyncCheckpoint
    notes: dict[str, list[CrmNote]] = field(default_factory=dict)
    stages: dict[str, list[CrmStageChange]] = field(default_factory=dict)


@dataclass
class SyncResult:
    """What a run did (events are collected here only when no sink was given)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    done: int = 0
    total: int | None = None
    pages: int = 0
    resumed: bool = False
    high_water: datetime | None = None


def sync_contacts(
    connector: CrmConnector,
    mapping: CrmMapping,
    store: SyncCheckpointStore,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    tenant: str,
    sink: Callable[[SyncPage], None] | None = None,
    page_size: int = 100,
    with_notes: bool = False,
    with_stage_history: bool = False,
    clock: Clock | None = None,
    source: str | None = None,
) -> SyncResult:
    """Backfill contacts as lead.created events, resuming an unfinished run with the same ``since``.

    ``with_notes`` and ``with_stage_history`` fetch each page's history before the page reaches the sink, so the
    contacts and their history are handed on (and stored) together, before the checkpoint moves on.
    """
    clock = clock or SystemClock()
    crm = connector.name
    saved = store.load(tenant, crm)
    resuming = saved is not None and not saved.finished and saved.since == since
    checkpoint = saved if resuming and saved is not None else SyncCheckpoint(cursor=None, since=since)
    result = SyncResult(
        done=checkpoint.done, total=checkpoint.total, resumed=resuming, high_water=checkpoint.high_water
    )
    label = source or f"{crm}-sync"
    previous_ids: set[str] = set()
    cursor = checkpoint.cursor
    while True:
        page = connector.list_contacts(since=since, cursor=cursor, limit=page_size)
        if result.total is None:
            result.total = page.total
        events: list[dict[str, Any]] = []
        errors: list[RecordError] = []
        notes: dict[str, list[CrmNote]] = {}
        page_ids: set[str] = set()
        crm_ids: dict[str, str] = {}
        for record in page.contacts:
            mapped = map_record(record, mapping)
            if isinstance(mapped, RecordError):
                errors.append(mapped)
                continue
            event = lead_created_event(mapped, source=label, fallback_time=clock.now())
            # The search API restarts at the last modification time, so a page edge can repeat a record.
            if event["id"] in previous_ids or event["id"] in page_ids:
                continue
            page_ids.add(event["id"])
            events.append(event)
            result.high_water = _later(result.high_water, mapped)
            crm_ids[record.id] = mapped.external_id
            if with_notes:
                notes[mapped.external_id] = connector.list_notes(record.id)
        stages: dict[str, list[CrmStageChange]] = {}
        if with_stage_history and crm_ids:
            found = connector.stage_history(list(crm_ids))
            stages = {crm_ids[crm_id]: changes for crm_id, changes in found.items() if crm_id in crm_ids and changes}
        result.done += len(page.contacts)
        result.pages += 1
        finished = page.next_cursor is None
        if not finished and page.next_cursor == cursor:
            raise CrmApiError(f"{crm} pagination did not advance past cursor {cursor!r}", retryable=False)
        checkpoint = replace(
            checkpoint,
            cursor=page.next_cursor,
            done=result.done,
            errors=checkpoint.errors + len(errors),
            total=result.total,
            finished=finished,
            high_water=result.high_water,
        )
        outcome = SyncPage(events=events, errors=errors, checkpoint=checkpoint, notes=notes, stages=stages)
        if sink is not None:
            sink(outcome)
        else:
            result.events.extend(events)
        result.errors.extend(errors)
        store.save(tenant, crm, checkpoint)
        if progress is not None:
            progress(result.done, result.total)
        if finished:
            return result
        previous_ids = page_ids
        cursor = page.next_cursor


def _later(current: datetime | None, mapped: MappedContact) -> datetime | None:
    seen = mapped.updated_at or mapped.created_at
    if seen is None:
        return current
    return seen if current is None or seen > current else current


def history_activities(
    page: SyncPage, crm: str, contact_ids: Mapping[str, int], mapping: CrmMapping, now: datetime
) -> list[ContactActivity]:
    """A page's CRM history as activity rows of the contacts stored from it (``contact_ids``: external id -> id).

    Ids come from the CRM (the note's id; the stage property, value and time), so storing a page again after an
    interruption adds nothing. Notes nightcrew wrote itself are left out; note HTML becomes plain text.
    """
    rows: list[ContactActivity] = []
    for external_id, notes in page.notes.items():
        contact_id = contact_ids.get(external_id)
        for note in notes if contact_id is not None else []:
            text = " ".join(html.unescape(_TAG.sub(" ", note.body)).split())
            if not text or _OWN_NOTE.search(note.body):
                continue
            rows.append(
                ContactActivity(
                    contact_id=contact_id,
                    source=crm,
                    kind="note",
                    external_id=f"note:{note.id}"[:300],
                    body=text,
                    details={},
                    occurred_at=note.created_at,
                    created_at=now,
                )
            )
    for external_id, changes in page.stages.items():
        contact_id = contact_ids.get(external_id)
        for change in changes if contact_id is not None else []:
            rows.append(
                ContactActivity(
                    contact_id=contact_id,
                    source=crm,
                    kind="stage",
                    external_id=f"stage:{change.property}:{epoch_ms(change.at)}:{change.value}"[:300],
                    body=f"{change.property}: {change.value}",
                    details={
                        "property": change.property,
                        "value": change.value,
                        "stage": mapping.stages.our_stage(change.value),
                        "source": change.source,
                    },
                    occurred_at=change.at,
                    created_at=now,
                )
            )
    return rows
