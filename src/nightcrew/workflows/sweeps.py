"""Periodic work from durable due-times: deferred messages whose time came, events that never started."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS, SetWorkflowID
from dbos._core import prepare_enqueued_workflow
from dbos._dbos import _get_dbos_instance

from nightcrew.bootstrap import Container
from nightcrew.channels.repository import DueMessages
from nightcrew.crm.repository import DueFollowUps, RateBucketRepository
from nightcrew.db import refresh_statistics, transaction
from nightcrew.events.repository import StrandedEvents
from nightcrew.events.service import StoredEvent
from nightcrew.workflows.delivery import deliver_waiting
from nightcrew.workflows.followup import followup_workflow, followup_workflow_id
from nightcrew.workflows.outbound import waiting_queue
from nightcrew.workflows.runtime import DELIVERIES_QUEUE, FOLLOWUPS_QUEUE, container, step

# An event still 'received' this long after it was stored lost its enqueue to a crash.
STRANDED_AFTER = timedelta(seconds=30)
BATCH = 500
# One sweep claims at most this many batches of due follow-ups; the next sweep goes on where it stopped.
MAX_BATCHES = 200


@dataclass
class SweepReport:
    """What one sweep started."""

    deliveries: int = 0
    followups: int = 0
    restarted_events: int = 0
    handles: list[Any] = field(default_factory=list)

    def wait(self) -> list[Any]:
        """Wait for every workflow this sweep started; their results."""
        return [handle.get_result() for handle in self.handles]


def delivery_workflow_id(message_id: int, send_after: datetime | None) -> str:
    """One release workflow per message per due-time (a message deferred again gets a new one).

    The stamp keeps the due-time to the microsecond: a message deferred again within the same minute (a breaker's
    cool-down of a few seconds) must not get the id of the release workflow that already ran.
    """
    stamp = send_after.strftime("%Y%m%dT%H%M%S.%f") if send_after else "now"
    return f"deliver:{message_id}:{stamp}"


def _due_work(c: Container, now: datetime, tenant_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """What is due besides new follow-ups (claimed batch by batch): messages, stuck claims, stranded events."""
    with transaction(c.sessions) as session:
        messages = [
            {
                "tenant_id": m.tenant_id,
                "message_id": m.id,
                "workflow_id": delivery_workflow_id(m.id, m.send_after),
                "queue": waiting_queue(c, m.tenant_id, m.purpose) if m.status == "awaiting_model" else DELIVERIES_QUEUE,
            }
            for m in DueMessages(session).due(now, BATCH, tenant_id)
        ]
        # A claim whose workflow never started (a crash in between) is started again; the id makes it once.
        followups = [
            {"tenant_id": f.tenant_id, "followup_id": f.id, "workflow_id": f.workflow_id}
            for f in DueFollowUps(session).stuck_running(now - STRANDED_AFTER, BATCH, tenant_id)
        ]
        stranded = [
            {"tenant_id": e.tenant_id, "key": e.key, "type": e.type, "workflow_id": e.workflow_id}
            for e in StrandedEvents(session).received_before(now - STRANDED_AFTER, BATCH, tenant_id)
        ]
    return {"messages": messages, "stranded": stranded, "followups": followups}


def claim_followups(
    c: Container, now: datetime, tenant_id: int | None = None, batch: int = BATCH
) -> tuple[int, list[dict[str, Any]]]:
    """Claim one batch of due follow-ups in one transaction: (rows found due, those this sweep won)."""
    with transaction(c.sessions) as session:
        result = DueFollowUps(session).claim_due(now, batch, followup_workflow_id, tenant_id)
    claimed = [{"tenant_id": f.tenant_id, "followup_id": f.id, "workflow_id": f.workflow_id} for f in result.claimed]
    return result.found, claimed


def enqueue_many(queue_name: str, workflow: Callable[..., Any], calls: list[tuple[str, tuple[Any, ...]]]) -> list[str]:
    """Put workflows on a queue in one transaction; an id that is already there is skipped (a repeat starts nothing).

    DBOS 3.4 has no public batch enqueue; this is the batch insert its own Kafka consumer uses
    (``prepare_enqueued_workflow`` + ``init_workflows``), pinned with the dbos version. One enqueue per
    workflow costs a transaction each, which is most of a large sweep's time.
    """
    if not calls:
        return []
    dbos = _get_dbos_instance()
    statuses = [
        prepare_enqueued_workflow(dbos, workflow, args, {}, queue_name=queue_name, workflow_id=workflow_id)
        for workflow_id, args in calls
    ]
    dbos._sys_db.init_workflows(statuses)
    return [workflow_id for workflow_id, _ in calls]


def _enqueue_found(work: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Enqueue the due messages (per queue) and follow-ups of ``work``, a batch insert per queue."""
    ids: list[str] = []
    for queue_name in sorted({m["queue"] for m in work["messages"]}):  # deliveries, and each endpoint's model queue
        calls = [
            (m["workflow_id"], (m["tenant_id"], m["message_id"])) for m in work["messages"] if m["queue"] == queue_name
        ]
        ids += enqueue_many(queue_name, deliver_waiting, calls)
    ids += enqueue_many(
        FOLLOWUPS_QUEUE,
        followup_workflow,
        [(f["workflow_id"], (f["tenant_id"], f["followup_id"])) for f in work["followups"]],
    )
    return ids


def _start_here(work: dict[str, list[dict[str, Any]]]) -> list[Any]:
    """Start the due messages and follow-ups of ``work`` in this process at once (the demo's fast-forwarded month)."""
    handles: list[Any] = []
    for item in work["messages"]:
        with SetWorkflowID(item["workflow_id"]):
            handles.append(DBOS.start_workflow(deliver_waiting, item["tenant_id"], item["message_id"]))
    for item in work["followups"]:
        with SetWorkflowID(item["workflow_id"]):
            handles.append(DBOS.start_workflow(followup_workflow, item["tenant_id"], item["followup_id"]))
    return handles


def _start(work: dict[str, list[dict[str, Any]]], *, direct: bool = False) -> SweepReport:
    from nightcrew.workflows.dispatch import dispatch

    report = SweepReport(deliveries=len(work["messages"]), followups=len(work["followups"]))
    if direct:
        report.handles += _start_here(work)
    else:
        # Work waiting for a model drains through a rate-limited queue when the provider returns.
        report.handles += [DBOS.retrieve_workflow(wid, existing_workflow=False) for wid in _enqueue_found(work)]
    report.handles += dispatch(
        (
            StoredEvent(e["key"], e["type"], "received", e["workflow_id"], e["tenant_id"])
            for e in work.get("stranded", [])
        ),
        direct=direct,
    )
    report.restarted_events = len(work.get("stranded", []))
    return report


def run_sweep(c: Container, *, direct: bool = False, tenant_id: int | None = None, batch: int = BATCH) -> SweepReport:
    """Start the workflows for everything due now (of one tenant, when given); the demo and tests call this
    with a fast-forwarded clock. Due follow-ups are claimed and started ``batch`` at a time."""
    now = c.clock.now()
    report = _start(_due_work(c, now, tenant_id), direct=direct)
    for _ in range(MAX_BATCHES):
        found, claimed = claim_followups(c, now, tenant_id, batch)
        started = _start({"messages": [], "followups": claimed}, direct=direct)
        report.followups += started.followups
        report.handles += started.handles
        if found < batch:  # the last batch; a full one that another sweep won is followed by the next
            break
    return report


@step("sweep.find_due")
def find_due() -> dict[str, list[dict[str, Any]]]:
    """What is due at the container clock's now, besides new follow-ups."""
    c = container()
    return _due_work(c, c.clock.now())


@step("sweep.start_found")
def start_found(work: dict[str, list[dict[str, Any]]]) -> int:
    """Enqueue the due messages and stuck follow-ups that ``find_due`` found; how many."""
    return len(_enqueue_found(work))


@step("sweep.claim_followups")
def claim_and_start_followups() -> int:
    """Claim one batch of due follow-ups and enqueue their workflows; how many rows were found due.

    Cut off between the claim and the enqueue, the claimed rows are started by a later sweep (stuck claims).
    """
    c = container()
    found, claimed = claim_followups(c, c.clock.now())
    _enqueue_found({"messages": [], "followups": claimed})
    return found


STATISTICS_EVERY = timedelta(hours=1)
# When each hourly upkeep task last ran in this process, by a monotonic clock: upkeep, not business time.
_upkeep_done_at: dict[str, float] = {}


def _upkeep_due(task: str) -> bool:
    """True (and noted) when ``task`` has not run in this process within the last STATISTICS_EVERY."""
    now = time.monotonic()
    last = _upkeep_done_at.get(task)
    if last is not None and now - last < STATISTICS_EVERY.total_seconds():
        return False
    _upkeep_done_at[task] = now
    return True


@step("sweep.statistics")
def refresh_planner_statistics() -> None:
    """Now and then, fresh SQLite statistics (a growing table would otherwise keep the plans of an empty one)."""
    if _upkeep_due("statistics"):
        refresh_statistics(container().engine)


@step("sweep.rate_buckets")
def prune_rate_buckets() -> int:
    """Hourly, drop the shared rate buckets that have refilled completely (a missing bucket is a full one)."""
    if not _upkeep_due("rate_buckets"):
        return 0
    c = container()
    rate = c.settings.rate_limit_per_minute / 60.0
    capacity = float(c.settings.rate_limit_burst or c.settings.rate_limit_per_minute)
    with transaction(c.sessions) as session:
        return RateBucketRepository(session).forget_full(
            now=c.wall_clock.now().timestamp(), rate=rate, capacity=capacity
        )


@DBOS.workflow(name="sweep")
def scheduled_sweep(scheduled_at: datetime, context: Any) -> None:
    """The production trigger: DBOS runs this on a cron schedule; every start it makes is idempotent."""
    from nightcrew.workflows.dispatch import dispatch

    work = find_due()
    start_found(work)
    dispatch(StoredEvent(e["key"], e["type"], "received", e["workflow_id"], e["tenant_id"]) for e in work["stranded"])
    for _ in range(MAX_BATCHES):
        if claim_and_start_followups() < BATCH:
            break
    if container().settings.is_sqlite:
        refresh_planner_statistics()
    prune_rate_buckets()
