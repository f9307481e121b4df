"""Rules about contacts: how an event updates one, which language to speak, stage moves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from nightcrew.channels.repository import WAITING_STATUSES, OutboxRepository
from nightcrew.crm.models import Contact, FollowUp, StageChange
from nightcrew.crm.repository import ContactRepository, FollowUpRepository, StageRepository
from nightcrew.guardrails.places import resolve_country
from nightcrew.observe import audit
from nightcrew.playbook.schemas import Playbook
from nightcrew.review.repository import ReviewRepository

_COUNTRY_LANGUAGE = {
    **dict.fromkeys(("BR", "PT", "AO", "MZ"), "pt"),
    **dict.fromkeys(("US", "CA", "GB", "IE", "AU", "NZ", "JM", "BZ"), "en"),
    **dict.fromkeys(
        (
            "MX",
            "CO",
            "AR",
            "CL",
            "PE",
            "EC",
            "BO",
            "PY",
            "UY",
            "VE",
            "CR",
            "PA",
            "GT",
            "HN",
            "SV",
            "NI",
            "DO",
            "PR",
            "CU",
            "ES",
        ),
        "es",
    ),
}
_CORE_FIELDS = ("name", "email", "phone", "language", "timezone", "location")


def _fill_core_fields(contact: Contact, incoming: Mapping[str, Any]) -> bool:
    """Set the core fields ``incoming`` gives (blank values change nothing); True when the name changed."""
    known_name = contact.name
    for name in _CORE_FIELDS:
        value = incoming.get(name)
        if value not in (None, ""):
            setattr(contact, name, value)
    return contact.name != known_name


# Messages the agent decided to send on its own initiative; a reply, booking or opt-out makes them stale.
AUTOMATED_PURPOSES = ("outreach", "followup")


def resolve_language(contact: Mapping[str, Any], playbook: Playbook) -> tuple[str, str]:
    """The language to write in and why: the contact's own, else its country's, else the business default."""
    known = contact.get("language")
    if known in playbook.languages:
        return str(known), "contact language"
    country = resolve_country(contact.get("location"), contact.get("phone"))
    guess = _COUNTRY_LANGUAGE.get(country or "")
    if guess in playbook.languages:
        return str(guess), f"country {country}"
    return playbook.business.default_language, "business default"


class ContactService:
    """Create and update contacts from events; move them through the pipeline."""

    def upsert(
        self,
        session: Session,
        tenant_id: int,
        incoming: Mapping[str, Any],
        *,
        now: datetime,
        playbook: Playbook,
        stage: str | None,
        event_key: str,
    ) -> tuple[Contact, bool]:
        """Create the contact or fill in what the event adds; returns (contact, created)."""
        contacts = ContactRepository(session, tenant_id)
        external_id = str(incoming["external_id"])
        contact = contacts.by_external_id(external_id, for_update=True)
        created = False
        if contact is None:
            initial = stage or playbook.initial_stage
            fresh = Contact(
                external_id=external_id,
                fields=dict(incoming.get("fields") or {}),
                stage=initial,
                consent="unknown",
                created_at=now,
                updated_at=now,
                **{name: incoming.get(name) for name in _CORE_FIELDS},
            )
            inserted = contacts.insert(fresh)
            if inserted is not None:
                StageRepository(session, tenant_id).add_change(
                    StageChange(
                        contact_id=inserted.id,
                        from_stage=None,
                        to_stage=initial,
                        changed_at=now,
                        event_key=event_key,
                        reason="new contact",
                    )
                )
                return inserted, True
            # Another writer created it between our read and insert: update theirs instead.
            contact = contacts.by_external_id(external_id, for_update=True)
            assert contact is not None
        if _fill_core_fields(contact, incoming):
            contacts.index_names([contact])
        if incoming.get("fields"):
            contact.fields = {**(contact.fields or {}), **dict(incoming["fields"])}
        contact.updated_at = now
        if stage and stage != contact.stage:
            self.move(
                session,
                tenant_id,
                contact,
                stage,
                now=now,
                event_key=event_key,
                reason="stage given by event",
            )
        return contact, created

    def bulk_upsert(
        self,
        session: Session,
        tenant_id: int,
        incoming: Sequence[Mapping[str, Any]],
        *,
        now: datetime,
        playbook: Playbook,
        source: str,
    ) -> tuple[int, int]:
        """Create or update a batch of contacts in one transaction, without workflows; returns (created, updated).

        Imports and CRM backfills are history: they never trigger a first message.
        """
        contacts = ContactRepository(session, tenant_id)
        existing = contacts.by_external_ids([str(c["external_id"]) for c in incoming])
        fresh: list[Contact] = []
        renamed: dict[str, Contact] = {}  # by external id: a row may come twice in a batch
        updated = 0
        for item in incoming:
            contact = existing.get(str(item["external_id"]))
            if contact is None:
                contact = Contact(
                    external_id=str(item["external_id"]),
                    fields=dict(item.get("fields") or {}),
                    stage=str(item.get("stage") or playbook.initial_stage),
                    consent="unknown",
                    created_at=now,
                    updated_at=now,
                    **{name: item.get(name) for name in _CORE_FIELDS},
                )
                existing[contact.external_id] = contact
                fresh.append(contact)
                continue
            if _fill_core_fields(contact, item) and contact.id is not None:
                renamed[contact.external_id] = contact  # a contact new in this batch is indexed by add_all
            if item.get("fields"):
                contact.fields = {**(contact.fields or {}), **dict(item["fields"])}
            contact.updated_at = now
            updated += 1
        contacts.add_all(fresh)
        contacts.index_names(list(renamed.values()))
        stages = StageRepository(session, tenant_id)
        for contact in fresh:
            stages.add_change(
                StageChange(
                    contact_id=contact.id,
                    from_stage=None,
                    to_stage=contact.stage,
                    changed_at=now,
                    event_key=None,
                    reason=f"imported ({source})",
                )
            )
        return len(fresh), updated

    def move(
        self,
        session: Session,
        tenant_id: int,
        contact: Contact,
        to_stage: str,
        *,
        now: datetime,
        event_key: str | None,
        reason: str,
    ) -> StageChange | None:
        """Move a contact to another stage and record the move; None when it is already there."""
        if contact.stage == to_stage:
            return None
        change = StageRepository(session, tenant_id).add_change(
            StageChange(
                contact_id=contact.id,
                from_stage=contact.stage,
                to_stage=to_stage,
                changed_at=now,
                event_key=event_key,
                reason=reason,
            )
        )
        contact.stage = to_stage
        contact.updated_at = now
        return change

    def stop_followups(
        self,
        session: Session,
        tenant_id: int,
        contact_id: int,
        reason: str,
        now: datetime,
        *,
        withdraw: Sequence[str] = AUTOMATED_PURPOSES,
    ) -> int:
        """Cancel the contact's pending follow-ups (a reply, booking or opt-out stops a sequence), and withdraw the
        automated messages of ``withdraw`` purposes that still wait (for allowed hours, a model or a reviewer):
        a touch written before the contact replied or booked must not go out after it."""
        stopped = FollowUpRepository(session, tenant_id).cancel_active(contact_id, reason, now)
        self.withdraw_unsent(session, tenant_id, contact_id, reason, now, purposes=withdraw)
        return stopped

    def withdraw_unsent(
        self,
        session: Session,
        tenant_id: int,
        contact_id: int,
        reason: str,
        now: datetime,
        *,
        purposes: Sequence[str],
        only_message_id: int | None = None,
    ) -> list[int]:
        """Withdraw the contact's unsent messages of these purposes (and close their review items); their ids."""
        withdrawn: list[int] = []
        if not purposes:
            return withdrawn
        reviews = ReviewRepository(session, tenant_id)
        unsent = OutboxRepository(session, tenant_id).unsent_for_contact(
            contact_id, purposes, (*WAITING_STATUSES, "review")
        )
        for message in unsent:
            if only_message_id is not None and message.id != only_message_id:
                continue
            previous = message.status
            message.status, message.error, message.updated_at = "withdrawn", reason, now
            for item in reviews.open_for_message(message.id):
                item.status, item.decided_at, item.decided_by, item.decision_note = (
                    "withdrawn",
                    now,
                    "nightcrew",
                    reason,
                )
            audit.record(
                session,
                tenant_id,
                kind="message.withdrawn",
                step="message.withdraw",
                now=now,
                contact_id=contact_id,
                event_key=message.event_key,
                dedupe_key=f"message:{message.id}:withdrawn",
                input={"message_id": message.id, "purpose": message.purpose, "was": previous},
                output={"status": "withdrawn"},
                reason=f"not sent: {reason} while it waited ({previous})",
            )
            withdrawn.append(message.id)
        return withdrawn

    def postpone_cold_check(
        self, session: Session, tenant_id: int, contact_id: int, now: datetime, due: datetime
    ) -> FollowUp | None:
        """The lead progressed (another open stage): a pending cold check counts from now; None when none waits."""
        active = FollowUpRepository(session, tenant_id).active_for_contact(contact_id)
        if active is None or active.status != "pending" or active.kind != "cold_check":
            return None
        active.due_at, active.updated_at = max(active.due_at, due), now
        return active

    def start_cold_clock(
        self,
        session: Session,
        tenant_id: int,
        contact_id: int,
        now: datetime,
        due: datetime,
        source_message_id: int | None = None,
    ) -> FollowUp | None:
        """Make the contact's cold check due at ``due`` (a new outbound message or a cancellation resets it).

        None when the contact is already in a running sequence (a contact is never in two at once).
        """
        followups = FollowUpRepository(session, tenant_id)
        active = followups.active_for_contact(contact_id)
        if active is not None:
            if active.status == "pending" and active.kind == "cold_check":
                active.due_at, active.updated_at = due, now
                active.source_message_id = source_message_id or active.source_message_id
                return active
            return None
        return followups.insert(
            FollowUp(
                contact_id=contact_id,
                kind="cold_check",
                due_at=due,
                status="pending",
                source_message_id=source_message_id,
                created_at=now,
                updated_at=now,
            )
        )
