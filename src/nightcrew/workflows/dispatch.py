"""Start the durable workflow for stored events: the edge calls this after its transaction commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dbos import DBOS, SetWorkflowID, WorkflowHandle
from sqlalchemy.orm import Session

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.db import transaction
from nightcrew.events.service import EventService, IngestReport, StoredEvent
from nightcrew.observe.tracing import current_trace_id, current_traceparent, tracer
from nightcrew.workflows.inbound import inbound_workflow
from nightcrew.workflows.lead import lead_workflow
from nightcrew.workflows.runtime import EVENTS_QUEUE, client, container, is_launched, queue
from nightcrew.workflows.stage import stage_workflow

WORKFLOW_NAME = {"lead.created": "lead", "message.received": "inbound", "stage.changed": "stage"}
WORKFLOW_FOR_TYPE: dict[str, Callable[[int, str], dict[str, Any]]] = {
    "lead.created": lead_workflow,
    "message.received": inbound_workflow,
    "stage.changed": stage_workflow,
}


def dispatch(events: Iterable[StoredEvent], *, direct: bool = False) -> list[WorkflowHandle[dict[str, Any]]]:
    """Start one workflow per event; the workflow id makes a repeat a no-op.

    Normally the workflow goes on the events queue, where any worker may take it. ``direct``
    starts it in this process at once (the demo's fast-forwarded month); it is just as durable.
    """
    handles: list[Any] = []
    enqueue_only = client()
    if enqueue_only is not None and not is_launched():
        for event in events:
            handles.append(
                enqueue_only.enqueue(
                    {
                        "queue_name": EVENTS_QUEUE,
                        "workflow_name": WORKFLOW_NAME[event.type],
                        "workflow_id": event.workflow_id,
                        "app_version": container().settings.application_version,
                    },
                    event.tenant_id,
                    event.key,
                )
            )
        return handles
    events_queue = queue(EVENTS_QUEUE)
    for event in events:
        fn = WORKFLOW_FOR_TYPE[event.type]
        with SetWorkflowID(event.workflow_id):
            if direct:
                handles.append(DBOS.start_workflow(fn, event.tenant_id, event.key))
            else:
                handles.append(events_queue.enqueue(fn, event.tenant_id, event.key))
    return handles


def ingest(
    container: Container,
    tenant: TenantRef,
    raw_events: list[Any],
    *,
    source: str,
    direct: bool = False,
    within: Callable[[Session], None] | None = None,
) -> IngestReport:
    """Validate, store (one transaction), then start the workflows of the new events.

    ``within`` runs first in that same transaction (a webhook's replay claim): both commit, or neither does.
    """
    with tracer().start_as_current_span("events.ingest", attributes={"tenant": tenant.slug, "count": len(raw_events)}):
        traceparent, trace_id = current_traceparent(), current_trace_id()
        with transaction(container.sessions) as session:
            if within is not None:
                within(session)
            report = EventService().store(
                session,
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                playbook=container.playbook(tenant),
                raw_events=raw_events,
                now=container.clock.now(),
                source=source,
                traceparent=traceparent,
                trace_id=trace_id,
            )
        report.handles = dispatch(report.accepted, direct=direct)
    return report
