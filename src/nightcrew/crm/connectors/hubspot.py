"""HubSpot through its CRM v3 objects API (and v4 associations), with a private-app Bearer token."""

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
    epoch_ms,
    note_marker,
    parse_instant,
)
from nightcrew.crm.connectors.http import ApiClient, CrmApiError, RetryPolicy
from nightcrew.crm.mapping import CrmMapping

HUBSPOT_API = "https://api.hubapi.com"
# HubSpot-defined association type "note to contact".
NOTE_TO_CONTACT = 202
# The search API serves at most 10,000 results per query; past that we restart from the last modification time.
SEARCH_WINDOW = 10_000
_ALWAYS = ("createdate", "lastmodifieddate")
# Inputs per batch read that asks for property history ("the maximum number of inputs supported in a batch
# request for property histories is 50"; plain batch reads take 100).
HISTORY_BATCH = 50


class HubSpotConnector:
    """Contacts, notes, lifecycle/deal stages and owners in one HubSpot portal."""

    name: CrmName = "hubspot"

    def __init__(self, api: ApiClient, mapping: CrmMapping, *, clock: Clock | None = None) -> None:
        self.api = api
        self.mapping = mapping
        self.clock = clock or SystemClock()

    @classmethod
    def connect(
        cls,
        token: str,
        mapping: CrmMapping,
        *,
        base_url: str = HUBSPOT_API,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 15.0,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
    ) -> HubSpotConnector:
        """A connector authenticated with a private-app access token."""
        clock = clock or SystemClock()
        api = ApiClient(
            base_url=base_url,
            name="hubspot",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            clock=clock,
            client=client,
        )
        return cls(api, mapping, clock=clock)

    def properties(self) -> list[str]:
        """The contact properties asked for: the mapped ones, the stage property, and the timestamps."""
        names = list(self.mapping.source_fields())
        extra = [*_ALWAYS]
        if self.mapping.stages.object == "contact":
            extra.append(self.mapping.stages.property)
        names.extend(n for n in extra if n not in names)
        return names

    def get_contact(self, contact_id: str) -> CrmContact:
        """One contact with the mapped properties."""
        response = self.api.get(
            f"/crm/v3/objects/contacts/{contact_id}", params={"properties": ",".join(self.properties())}
        )
        return _contact(response.body)

    def list_contacts(self, *, since: datetime | None, cursor: str | None, limit: int = 100) -> ContactPage:
        """A page of contacts: the list API for a full backfill, the search API (by lastmodifieddate) for --since."""
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        since_ms = state.get("since_ms")
        if since_ms is None and since is not None and not state:
            since_ms = epoch_ms(since)
        if since_ms is None:
            return self._list_page(state.get("after"), limit)
        return self._search_page(int(since_ms), state.get("after"), limit)

    def _list_page(self, after: str | None, limit: int) -> ContactPage:
        params: dict[str, Any] = {"limit": limit, "properties": ",".join(self.properties()), "archived": "false"}
        if after:
            params["after"] = after
        body = self.api.get("/crm/v3/objects/contacts", params=params).body
        contacts = [_contact(item) for item in body.get("results", [])]
        following = ((body.get("paging") or {}).get("next") or {}).get("after")
        return ContactPage(contacts, json.dumps({"after": following}) if following else None, None)

    def _search_page(self, since_ms: int, after: str | None, limit: int) -> ContactPage:
        request: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.properties(),
            "limit": limit,
        }
        if after:
            request["after"] = after
        body = self.api.post("/crm/v3/objects/contacts/search", request, idempotent=True).body
        contacts = [_contact(item) for item in body.get("results", [])]
        following = ((body.get("paging") or {}).get("next") or {}).get("after")
        next_cursor = None
        if following and contacts:
            if int(following) >= SEARCH_WINDOW:
                last = contacts[-1].updated_at
                restart = epoch_ms(last) if last is not None else since_ms
                next_cursor = json.dumps({"since_ms": restart, "after": None})
            else:
                next_cursor = json.dumps({"since_ms": since_ms, "after": following})
        total = body.get("total")
        return ContactPage(contacts, next_cursor, int(total) if isinstance(total, int) else None)

    def list_notes(self, contact_id: str) -> list[CrmNote]:
        """The notes on a contact's timeline."""
        note_ids = self._associated(f"/crm/v4/objects/contacts/{contact_id}/associations/notes")
        if not note_ids:
            return []
        body = self.api.post(
            "/crm/v3/objects/notes/batch/read",
            {"properties": ["hs_note_body", "hs_timestamp"], "inputs": [{"id": i} for i in note_ids]},
            idempotent=True,
        ).body
        notes = []
        for item in body.get("results", []):
            props = item.get("properties") or {}
            notes.append(
                CrmNote(
                    id=str(item["id"]),
                    body=str(props.get("hs_note_body") or ""),
                    created_at=parse_instant(props.get("hs_timestamp") or item.get("createdAt")),
                )
            )
        return notes

    def stage_history(self, contact_ids: list[str]) -> dict[str, list[CrmStageChange]]:
        """Every value the contacts' stage property took, oldest first (contact stages only: a deal's history
        belongs to the deal). One batch read per 50 contacts, with the property's history."""
        stage = self.mapping.stages.property
        if self.mapping.stages.object != "contact" or not contact_ids:
            return {}
        history: dict[str, list[CrmStageChange]] = {}
        for start in range(0, len(contact_ids), HISTORY_BATCH):
            body = self.api.post(
                "/crm/v3/objects/contacts/batch/read",
                {
                    "properties": [stage],
                    "propertiesWithHistory": [stage],
                    "inputs": [{"id": i} for i in contact_ids[start : start + HISTORY_BATCH]],
                },
                idempotent=True,
            ).body
            for item in body.get("results", []):
                changes = []
                for entry in (item.get("propertiesWithHistory") or {}).get(stage) or []:
                    at = parse_instant(entry.get("timestamp"))
                    if at is not None and entry.get("value") not in (None, ""):
                        changes.append(CrmStageChange(stage, str(entry["value"]), at, entry.get("sourceType")))
                history[str(item["id"])] = sorted(changes, key=lambda c: c.at)
        return history

    def deal_contact_ids(self, deal_id: str) -> list[str]:
        """Contacts associated with a deal (a deal-stage webhook names only the deal)."""
        return self._associated(f"/crm/v4/objects/deals/{deal_id}/associations/contacts")

    def contact_deal_ids(self, contact_id: str) -> list[str]:
        """Deals associated with a contact."""
        return self._associated(f"/crm/v4/objects/contacts/{contact_id}/associations/deals")

    def write_back(self, update: CrmUpdate) -> WriteBackResult:
        """One PATCH for segment, owner and lifecycle stage; a deal PATCH for deal stages; a note, at most once."""
        result = WriteBackResult(contact_id=update.contact_id)
        properties: dict[str, str] = {}
        done: list[str] = []
        deal_stage: str | None = None
        if update.segment is not None:
            if self.mapping.segment.property:
                properties[self.mapping.segment.property] = update.segment
                done.append("segment")
            else:
                result.skipped["segment"] = "no segment property configured"
        if update.team is not None:
            owner = self.mapping.owners.get(update.team)
            if owner:
                properties[self.mapping.owner_property] = owner
                done.append("owner")
            else:
                result.skipped["owner"] = f"team {update.team!r} has no HubSpot owner in the mapping"
        if update.stage is not None:
            value = self.mapping.stages.crm_value(update.stage)
            if value is None:
                result.skipped["stage"] = f"stage {update.stage!r} is not mapped to a HubSpot value"
            elif self.mapping.stages.object == "contact":
                properties[self.mapping.stages.property] = value
                done.append("stage")
            elif self.mapping.stages.object == "deal":
                deal_stage = value
            else:
                result.skipped["stage"] = "HubSpot has no opportunities; map stages to a contact property or deals"
        if properties:
            self.api.patch(f"/crm/v3/objects/contacts/{update.contact_id}", {"properties": properties})
            result.done.extend(done)
        if deal_stage is not None:
            deal_id = update.record_id or next(iter(self.contact_deal_ids(update.contact_id)), None)
            if deal_id is None:
                result.skipped["stage"] = "no deal is associated with the contact"
            else:
                deal_properties = {self.mapping.stages.property: deal_stage}
                if self.mapping.stages.pipeline_id:
                    deal_properties["pipeline"] = self.mapping.stages.pipeline_id
                self.api.patch(f"/crm/v3/objects/deals/{deal_id}", {"properties": deal_properties})
                result.done.append("stage")
        if update.note:
            self._write_note(update, result)
        return result

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
            # No answer to a create: look before writing again, so the timeline never gets the note twice.
            if not (exc.ambiguous and check and marker):
                raise
            result.note_id = self._note_with(update.contact_id, marker) or self._post_note(update.contact_id, text)
        result.done.append("note")

    def _post_note(self, contact_id: str, text: str) -> str:
        now = self.clock.now().astimezone(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        body = self.api.post(
            "/crm/v3/objects/notes",
            {
                "properties": {"hs_timestamp": stamp, "hs_note_body": text},
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}],
                    }
                ],
            },
        ).body
        return str(body["id"])

    def _note_with(self, contact_id: str, marker: str) -> str | None:
        return next((note.id for note in self.list_notes(contact_id) if marker in note.body), None)

    def _associated(self, path: str) -> list[str]:
        ids: list[str] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after:
                params["after"] = after
            body = self.api.get(path, params=params).body
            ids.extend(str(item["toObjectId"]) for item in body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return ids


def _contact(item: dict[str, Any]) -> CrmContact:
    properties = dict(item.get("properties") or {})
    properties.setdefault("id", str(item["id"]))
    return CrmContact(
        crm="hubspot",
        id=str(item["id"]),
        fields=properties,
        created_at=parse_instant(item.get("createdAt") or properties.get("createdate")),
        updated_at=parse_instant(item.get("updatedAt") or properties.get("lastmodifieddate")),
    )
