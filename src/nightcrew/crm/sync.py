"""Backfill contacts from a CRM page by page, resumable: each page is handed on, then its cursor is saved.

Order matters for exactly-once: the page's events reach the sink (which stores them, deduplicated by their
deterministic ids) before the checkpoint moves past the page. A crash in between re-reads one page; the
repeated events carry the same ids, so nothing is imported twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from nightcrew.clock import Clock, SystemClock
from nightcrew.crm.connectors.base import CrmConnector, CrmNote
from nightcrew.crm.connectors.http import CrmApiError
from nightcrew.crm.mapping import CrmMapping, MappedContact, RecordError, lead_created_event, map_record

Progress = Callable[[int, int | None], None]


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
    """One page's outcome: lead.created event dicts, records kept aside, notes (when asked), the new checkpoint."""

    events: list[dict[str, Any]]
    errors: list[RecordError]
    checkpoint: SyncCheckpoint
    notes: dict[str, list[CrmNote]] = field(default_factory=dict)


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
    clock: Clock | None = None,
    source: str | None = None,
) -> SyncResult:
    """Backfill contacts as lead.created events, resuming an unfinished run with the same ``since``."""
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
            if with_notes:
                notes[mapped.external_id] = connector.list_notes(record.id)
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
        outcome = SyncPage(events=events, errors=errors, checkpoint=checkpoint, notes=notes)
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
