"""Periodic work from durable due-times: deferred messages whose time came, events that never started."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS, SetWorkflowID

from nightcrew.bootstrap import Container
from nightcrew.channels.repository import DueMessages
from nightcrew.crm.repository import DueFollowUps
from nightcrew.db import transaction
from nightcrew.events.repository import StrandedEvents
from nightcrew.events.service import StoredEvent
from nightcrew.workflows.delivery import deliver_waiting
from nightcrew.workflows.followup import followup_workflow, followup_workflow_id
from nightcrew.workflows.outbound import waiting_queue
from nightcrew.workflows.runtime import DELIVERIES_QUEUE, FOLLOWUPS_QUEUE, container, queue, step

# An event still 'received' this long after it was stored lost its enqueue to a crash.
STRANDED_AFTER = timedelta(seconds=30)
BATCH = 500


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
        followups = []
        due_followups = DueFollowUps(session)
        for f in due_followups.due(now, BATCH, tenant_id):
            wid = followup_workflow_id(f.id, f.step_index, f.kind)
            if due_followups.claim(f.id, wid, now):
                followups.append({"tenant_id": f.tenant_id, "followup_id": f.id, "workflow_id": wid})
        # A claim whose workflow never started (a crash in between) is started again; the id makes it once.
        for f in due_followups.stuck_running(now - STRANDED_AFTER, BATCH, tenant_id):
            followups.append({"tenant_id": f.tenant_id, "followup_id": f.id, "workflow_id": f.workflow_id})
        stranded = [
            {"tenant_id": e.tenant_id, "key": e.key, "type": e.type, "workflow_id": e.workflow_id}
            for e in StrandedEvents(session).received_before(now - STRANDED_AFTER, BATCH, tenant_id)
        ]
    return {"messages": messages, "stranded": stranded, "followups": followups}


def _start(work: dict[str, list[dict[str, Any]]], *, direct: bool = False) -> SweepReport:
    from nightcrew.workflows.dispatch import dispatch

    report = SweepReport()
    for item in work["messages"]:
        with SetWorkflowID(item["workflow_id"]):
            if direct:
                report.handles.append(DBOS.start_workflow(deliver_waiting, item["tenant_id"], item["message_id"]))
            else:
                # Work waiting for a model drains through a rate-limited queue when the provider returns.
                report.handles.append(
                    queue(item["queue"]).enqueue(deliver_waiting, item["tenant_id"], item["message_id"])
                )
        report.deliveries += 1
    for item in work["followups"]:
        with SetWorkflowID(item["workflow_id"]):
            if direct:
                report.handles.append(DBOS.start_workflow(followup_workflow, item["tenant_id"], item["followup_id"]))
            else:
                report.handles.append(
                    queue(FOLLOWUPS_QUEUE).enqueue(followup_workflow, item["tenant_id"], item["followup_id"])
                )
        report.followups += 1
    report.handles += dispatch(
        (StoredEvent(e["key"], e["type"], "received", e["workflow_id"], e["tenant_id"]) for e in work["stranded"]),
        direct=direct,
    )
    report.restarted_events = len(work["stranded"])
    return report


def run_sweep(c: Container, *, direct: bool = False, tenant_id: int | None = None) -> SweepReport:
    """Start the workflows for everything due now (of one tenant, when given); the demo and tests call this
    with a fast-forwarded clock."""
    return _start(_due_work(c, c.clock.now(), tenant_id), direct=direct)


@step("sweep.find_due")
def find_due() -> dict[str, list[dict[str, Any]]]:
    """What is due at the container clock's now."""
    c = container()
    return _due_work(c, c.clock.now())


@DBOS.workflow(name="sweep")
def scheduled_sweep(scheduled_at: datetime, context: Any) -> None:
    """The production trigger: DBOS runs this on a cron schedule; every start it makes is idempotent."""
    _start(find_due())
