"""Read models for operators: an event with its actions, a contact's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nightcrew.channels.models import Message
from nightcrew.channels.repository import OutboxRepository
from nightcrew.crm.repository import (
    ActivityRepository,
    ContactRepository,
    FollowUpRepository,
    StageRepository,
    contact_values,
)
from nightcrew.errors import NotFound
from nightcrew.events.models import Event
from nightcrew.events.repository import EventRepository
from nightcrew.observe.models import Action
from nightcrew.observe.repository import ActionRepository


def action_dict(action: Action) -> dict[str, Any]:
    """An audit-log entry as JSON."""
    return {
        "id": action.id,
        "at": action.created_at.isoformat(),
        "kind": action.kind,
        "step": action.step,
        "event_id": action.event_key,
        "workflow_id": action.workflow_id,
        "input": action.input,
        "output": action.output,
        "reason": action.reason,
        "confidence": action.confidence,
        "model": action.model,
        "tier": action.tier,
        "cost_usd": action.cost_usd,
        "duration_ms": action.duration_ms,
        "trace_id": action.trace_id,
    }


def event_dict(event: Event) -> dict[str, Any]:
    """An event's identity and status as JSON."""
    return {
        "id": event.key,
        "type": event.type,
        "status": event.status,
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "updated_at": event.updated_at.isoformat(),
        "contact_external_id": event.contact_external_id,
        "workflow_id": event.workflow_id,
        "trace_id": event.trace_id,
        "error": event.error,
    }


def message_dict(message: Message) -> dict[str, Any]:
    """An outbox row as JSON."""
    return {
        "id": message.id,
        "status": message.status,
        "purpose": message.purpose,
        "channel": message.channel,
        "language": message.language,
        "plan": message.plan,
        "template": message.template,
        "variant": message.variant,
        "segment": message.segment,
        "path": message.path,
        "body": message.body,
        "idempotency_key": message.idempotency_key,
        "send_after": message.send_after.isoformat() if message.send_after else None,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "created_at": message.created_at.isoformat(),
        "error": message.error,
        "provider_message_id": message.provider_message_id,
        "delivery_status": message.delivery_status,
        "delivery_error_code": message.delivery_error_code,
        "delivery_updated_at": message.delivery_updated_at.isoformat() if message.delivery_updated_at else None,
    }


class AuditQueries:
    """What operators ask about events and contacts."""

    def event_with_actions(self, session: Session, tenant_id: int, key: str) -> dict[str, Any]:
        """An event, its status and the actions it produced."""
        event = EventRepository(session, tenant_id).by_key(key)
        if event is None:
            raise NotFound(f"event {key!r} not found")
        actions = ActionRepository(session, tenant_id).for_event(key)
        return {**event_dict(event), "actions": [action_dict(a) for a in actions]}

    def timeline(self, session: Session, tenant_id: int, external_id: str) -> dict[str, Any]:
        """A contact's events, actions, messages and stage moves in time order."""
        contact = ContactRepository(session, tenant_id).by_external_id(external_id)
        if contact is None:
            raise NotFound(f"contact {external_id!r} not found")
        items: list[dict[str, Any]] = []
        for event in EventRepository(session, tenant_id).for_contact(external_id):
            items.append({"at": event.occurred_at.isoformat(), "type": "event", "event": event_dict(event)})
        for action in ActionRepository(session, tenant_id).for_contact(contact.id):
            items.append({"at": action.created_at.isoformat(), "type": "action", "action": action_dict(action)})
        for message in OutboxRepository(session, tenant_id).for_contact(contact.id):
            at = message.sent_at or message.created_at
            items.append({"at": at.isoformat(), "type": "message", "message": message_dict(message)})
        for change in StageRepository(session, tenant_id).history(contact.id):
            items.append(
                {
                    "at": change.changed_at.isoformat(),
                    "type": "stage",
                    "stage": {"from": change.from_stage, "to": change.to_stage, "reason": change.reason},
                }
            )
        for activity in ActivityRepository(session, tenant_id).for_contact(contact.id):
            # What the CRM recorded before or beside nightcrew (a backfill); undated items lead the timeline.
            at = activity.occurred_at or activity.created_at
            items.append(
                {
                    "at": at.isoformat(),
                    "type": "crm",
                    "crm": {
                        "source": activity.source,
                        "kind": activity.kind,
                        "id": activity.external_id,
                        "body": activity.body,
                        "details": activity.details,
                        "dated": activity.occurred_at is not None,
                    },
                }
            )
        order = {"crm": 0, "event": 1, "stage": 2, "action": 3, "message": 4}
        items.sort(key=lambda item: (item["at"], order[item["type"]]))
        followups = [
            {
                "id": f.id,
                "status": f.status,
                "due_at": f.due_at.isoformat(),
                "reason": f.reason,
                "path": f.path,
            }
            for f in FollowUpRepository(session, tenant_id).for_contact(contact.id)
        ]
        return {"contact": contact_values(contact), "items": items, "followups": followups}
