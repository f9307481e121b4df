"""GoHighLevel through the LeadConnector API v2 (one location, private-integration or OAuth Bearer token)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from nightcrew.clock import Clock, SystemClock
from nightcrew.crm.connectors.base import (
    ContactPage,
    CrmContact,
    CrmName,
    CrmNote,
    CrmStageChange,
    CrmUpdate,
    WriteBackResult,
    note_marker,
    parse_instant,
)
from nightcrew.crm.connectors.http import ApiClient, CrmApiError, RetryPolicy
from nightcrew.crm.mapping import CrmMapping

GHL_API = "https://services.leadconnectorhq.com"
GHL_VERSION = "2021-07-28"


def flatten_contact(contact: dict[str, Any]) -> CrmContact:
    """A GoHighLevel contact (API or webhook shape) as flat fields; custom fields become ``customFields.<id>``."""
    fields: dict[str, Any] = {}
    for key, value in contact.items():
        if key in ("customFields", "customField"):
            for custom in value or []:
                if isinstance(custom, dict) and custom.get("id"):
                    custom_value = custom.get("value", custom.get("fieldValue"))
                    fields[f"customFields.{custom['id']}"] = custom_value
                    if custom.get("key"):
                        fields[f"customFields.{custom['key']}"] = custom_value
        elif not isinstance(value, dict):
            fields[key] = value
    created = parse_instant(contact.get("dateAdded"))
    return CrmContact(
        crm="gohighlevel",
        id=str(contact["id"]),
        fields=fields,
        created_at=created,
        updated_at=parse_instant(contact.get("dateUpdated")) or created,
    )


class GoHighLevelConnector:
    """Contacts, notes, tags, owners and opportunity stages in one GoHighLevel location."""

    name: CrmName = "gohighlevel"

    def __init__(self, api: ApiClient, mapping: CrmMapping, *, location_id: str, clock: Clock | None = None) -> None:
        self.api = api
        self.mapping = mapping
        self.location_id = location_id
        self.clock = clock or SystemClock()

    @classmethod
    def connect(
        cls,
        token: str,
        location_id: str,
        mapping: CrmMapping,
        *,
        base_url: str = GHL_API,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 15.0,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
    ) -> GoHighLevelConnector:
        """A connector for one location, authenticated with a Bearer token and the pinned API version."""
        clock = clock or SystemClock()
        api = ApiClient(
            base_url=base_url,
            name="gohighlevel",
            headers={"Authorization": f"Bearer {token}", "Version": GHL_VERSION, "Accept": "application/json"},
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            clock=clock,
            client=client,
        )
        return cls(api, mapping, location_id=location_id, clock=clock)

    def get_contact(self, contact_id: str) -> CrmContact:
        """One contact."""
        return flatten_contact(self._raw_contact(contact_id))

    def _raw_contact(self, contact_id: str) -> dict[str, Any]:
        body = self.api.get(f"/contacts/{contact_id}").body
        contact: dict[str, Any] = body["contact"]
        return contact

    def list_contacts(self, *, since: datetime | None, cursor: str | None, limit: int = 100) -> ContactPage:
        """A page of contacts: the list endpoint (startAfter/startAfterId) or, with --since, the search endpoint."""
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        mode = state.get("mode") or ("search" if since is not None else "list")
        if mode == "list":
            return self._list_page(state, limit)
        since_iso = state.get("since") or _iso(since or datetime.fromtimestamp(0, UTC))
        return self._search_page(since_iso, state.get("searchAfter"), limit)

    def _list_page(self, state: dict[str, Any], limit: int) -> ContactPage:
        params: dict[str, Any] = {"locationId": self.location_id, "limit": limit}
        if state.get("startAfterId"):
            params["startAfterId"] = state["startAfterId"]
            params["startAfter"] = state["startAfter"]
        body = self.api.get("/contacts/", params=params).body
        contacts = [flatten_contact(c) for c in body.get("contacts", [])]
        meta = body.get("meta") or {}
        next_cursor = None
        if contacts and meta.get("nextPageUrl") and meta.get("startAfterId"):
            next_cursor = json.dumps(
                {"mode": "list", "startAfter": meta.get("startAfter"), "startAfterId": meta["startAfterId"]}
            )
        total = meta.get("total")
        return ContactPage(contacts, next_cursor, int(total) if isinstance(total, int) else None)

    def _search_page(self, since_iso: str, search_after: list[Any] | None, limit: int) -> ContactPage:
        request: dict[str, Any] = {
            "locationId": self.location_id,
            "pageLimit": limit,
            "filters": [{"field": "dateUpdated", "operator": "range", "value": {"gte": since_iso}}],
            "sort": [{"field": "dateUpdated", "direction": "asc"}],
        }
        if search_after:
            request["searchAfter"] = search_after
        body = self.api.post("/contacts/search", request, idempotent=True).body
        raw = body.get("contacts", [])
        contacts = [flatten_contact(c) for c in raw]
        next_cursor = None
        if len(raw) == limit and raw[-1].get("searchAfter"):
            next_cursor = json.dumps({"mode": "search", "since": since_iso, "searchAfter": raw[-1]["searchAfter"]})
        total = body.get("total")
        return ContactPage(contacts, next_cursor, int(total) if isinstance(total, int) else None)

    def list_notes(self, contact_id: str) -> list[CrmNote]:
        """The notes on a contact."""
        body = self.api.get(f"/contacts/{contact_id}/notes").body
        return [
            CrmNote(id=str(n["id"]), body=str(n.get("body") or ""), created_at=parse_instant(n.get("dateAdded")))
            for n in body.get("notes", [])
        ]

    def stage_history(self, contact_ids: list[str]) -> dict[str, list[CrmStageChange]]:
        """Nothing: the LeadConnector API keeps no history of opportunity stages (only the current one)."""
        return {}

    def write_back(self, update: CrmUpdate) -> WriteBackResult:
        """Segment as a tag (stale segment tags removed), owner, opportunity stage, and a note at most once."""
        result = WriteBackResult(contact_id=update.contact_id)
        cached: dict[str, Any] = {}

        def contact() -> dict[str, Any]:
            if not cached:
                cached.update(self._raw_contact(update.contact_id))
            return cached

        if update.segment is not None:
            self._tag_segment(update, contact(), result)
        if update.team is not None:
            owner = self.mapping.owners.get(update.team)
            if owner:
                self.api.put(f"/contacts/{update.contact_id}", {"assignedTo": owner})
                result.done.append("owner")
            else:
                result.skipped["owner"] = f"team {update.team!r} has no GoHighLevel user in the mapping"
        if update.stage is not None:
            self._move_stage(update, contact, result)
        if update.note:
            self._write_note(update, result)
        return result

    def _tag_segment(self, update: CrmUpdate, contact: dict[str, Any], result: WriteBackResult) -> None:
        prefix = self.mapping.segment.tag_prefix
        tag = f"{prefix}{update.segment}"
        tags = [str(t) for t in contact.get("tags") or []]
        stale = [t for t in tags if t.startswith(prefix) and t != tag]
        if stale:
            self.api.delete(f"/contacts/{update.contact_id}/tags", {"tags": stale})
        if tag not in tags:
            # Adding a tag the contact already has changes nothing, so a retry is harmless.
            self.api.post(f"/contacts/{update.contact_id}/tags", {"tags": [tag]}, idempotent=True)
        result.done.append("segment")

    def _move_stage(self, update: CrmUpdate, contact: Callable[[], dict[str, Any]], result: WriteBackResult) -> None:
        stages = self.mapping.stages
        assert update.stage is not None
        stage_id = stages.crm_value(update.stage)
        if stage_id is None:
            result.skipped["stage"] = f"stage {update.stage!r} is not mapped to a GoHighLevel pipeline stage"
            return
        if stages.object != "opportunity":
            result.skipped["stage"] = "GoHighLevel stages live on opportunities; set stages.object: opportunity"
            return
        opportunity_id = update.record_id or self._opportunity_of(update.contact_id)
        if opportunity_id is None:
            if not stages.create_missing:
                result.skipped["stage"] = "the contact has no opportunity in the pipeline"
                return
            person = contact()
            self.api.post(
                "/opportunities/",
                {
                    "pipelineId": stages.pipeline_id,
                    "locationId": self.location_id,
                    "name": str(person.get("contactName") or person.get("name") or person.get("email") or "Lead"),
                    "pipelineStageId": stage_id,
                    "status": "open",
                    "contactId": update.contact_id,
                },
            )
            result.done.append("stage")
            return
        change: dict[str, Any] = {"pipelineStageId": stage_id}
        if stages.pipeline_id:
            change["pipelineId"] = stages.pipeline_id
        self.api.put(f"/opportunities/{opportunity_id}", change)
        result.done.append("stage")

    def _opportunity_of(self, contact_id: str) -> str | None:
        params: dict[str, Any] = {"location_id": self.location_id, "contact_id": contact_id}
        if self.mapping.stages.pipeline_id:
            params["pipeline_id"] = self.mapping.stages.pipeline_id
        body = self.api.get("/opportunities/search", params=params).body
        found = body.get("opportunities") or []
        return str(found[0]["id"]) if found else None

    def _write_note(self, update: CrmUpdate, result: WriteBackResult) -> None:
        key = update.idempotency_key
        marker = note_marker(key) if key else None
        text = f"{update.note}\n\n{marker}" if marker else str(update.note)
        check = bool(marker and self.mapping.dedupe_notes)
        if check and marker and (existing := self._note_with(update.contact_id, marker)):
            result.note_id = existing
            result.skipped["note"] = "already written by an earlier attempt"
            return
        try:
            result.note_id = self._post_note(update.contact_id, text)
        except CrmApiError as exc:
            if not (exc.ambiguous and check and marker):
                raise
            result.note_id = self._note_with(update.contact_id, marker) or self._post_note(update.contact_id, text)
        result.done.append("note")

    def _post_note(self, contact_id: str, text: str) -> str:
        body = self.api.post(f"/contacts/{contact_id}/notes", {"body": text}).body
        return str(body["note"]["id"])

    def _note_with(self, contact_id: str, marker: str) -> str | None:
        return next((note.id for note in self.list_notes(contact_id) if marker in note.body), None)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
