"""Loopback HTTP servers speaking the documented request/response shapes of HubSpot, GoHighLevel and Twilio.

Each records every request (method, path, query, headers, body) so tests assert the exact calls, and can be
told to fail on demand (a status with headers, or a slow answer after the work was done).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx

Response = tuple[int, Any, dict[str, str]]


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    target: str = ""

    @property
    def json(self) -> Any:
        """The JSON body."""
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        """The form body (first value of each field)."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def param(self, name: str) -> str | None:
        """One query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def brief(self) -> tuple[str, str]:
        """(method, path) for compact assertions."""
        return self.method, self.path


@dataclass
class Scripted:
    """A canned failure for requests matching ``method`` and the ``path`` regex."""

    path: str
    status: int
    method: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    # Handle the request normally, then wait this long before answering (the answer is lost to a short timeout).
    slow_s: float = 0.0
    # Let this many matching requests through untouched first (fail "mid-way").
    skip: int = 0


class FakeApiServer:
    """Threaded HTTP server on 127.0.0.1 with request recording and scripted failures."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.scripts: list[Scripted] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApiServer:
        """Listen on an ephemeral port."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _dispatch(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    target=self.path,
                )
                with fake.lock:
                    fake.requests.append(request)
                    script = fake._take_script(request)
                slow = 0.0
                if script is not None and not script.slow_s:
                    status, payload, headers = script.status, script.body, script.headers
                else:
                    try:
                        with fake.lock:
                            status, payload, headers = fake.handle(request)
                    except Exception as exc:  # a bug in the fake must show up as a 500, not a hang
                        status, payload, headers = 500, {"message": f"fake server error: {exc!r}"}, {}
                    slow = script.slow_s if script is not None else 0.0
                if slow:
                    time.sleep(slow)
                raw = b"" if payload is None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    return

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def script(self, path: str, status: int, **options: Any) -> None:
        """Answer matching requests with ``status`` (``times`` times)."""
        with self.lock:
            self.scripts.append(Scripted(path=path, status=status, **options))

    def _take_script(self, request: RecordedRequest) -> Scripted | None:
        for script in self.scripts:
            if script.times <= 0:
                continue
            if script.method and script.method != request.method:
                continue
            if re.fullmatch(script.path, request.path):
                if script.skip > 0:
                    script.skip -= 1
                    return None
                script.times -= 1
                return script
        return None

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally filtered by method and path regex."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
            ]

    def reset_log(self) -> None:
        """Forget recorded requests."""
        with self.lock:
            self.requests.clear()

    def handle(self, request: RecordedRequest) -> Response:
        """Route one request (subclasses)."""
        raise NotImplementedError

    @staticmethod
    def route(request: RecordedRequest, table: list[tuple[str, str, Callable[..., Response]]]) -> Response | None:
        """Call the first handler whose method and path regex match, with the regex groups."""
        for method, pattern, handler in table:
            match = re.fullmatch(pattern, request.path)
            if match and method == request.method:
                return handler(request, *match.groups())
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# --------------------------------------------------------------------------------------------------- HubSpot


class FakeHubSpot(FakeApiServer):
    """CRM v3 objects (contacts, deals, notes), contact search, v4 associations; Bearer private-app token."""

    def __init__(self, token: str = "pat-na1-test-token") -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.associations: dict[tuple[str, str, str], list[str]] = {}
        # contact id -> property -> [(value, when, sourceType)], oldest first.
        self.history: dict[str, dict[str, list[tuple[str, datetime, str]]]] = {}
        self._ids = itertools.count(9001)
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def add_contact(self, contact_id: str, properties: dict[str, Any], *, created: datetime, updated: datetime) -> None:
        """Seed a contact."""
        self.contacts[contact_id] = {
            "id": contact_id,
            "properties": {**properties, "createdate": _iso(created), "lastmodifieddate": _iso(updated)},
            "createdAt": _iso(created),
            "updatedAt": _iso(updated),
            "archived": False,
        }

    def add_note(self, contact_id: str, body: str, at: datetime) -> str:
        """Seed a note on a contact's timeline; its id."""
        note_id = str(next(self._ids))
        self.notes[note_id] = {
            "id": note_id,
            "properties": {"hs_note_body": body, "hs_timestamp": _iso(at)},
            "createdAt": _iso(at),
            "updatedAt": _iso(at),
            "archived": False,
        }
        self.associations.setdefault(("contacts", contact_id, "notes"), []).append(note_id)
        return note_id

    def add_history(self, contact_id: str, name: str, values: list[tuple[str, datetime]]) -> None:
        """Seed the values a contact property took, oldest first (the last is its current value)."""
        self.history.setdefault(contact_id, {})[name] = [(v, at, "CRM_UI") for v, at in values]
        self.contacts[contact_id]["properties"][name] = values[-1][0]

    def add_deal(self, deal_id: str, properties: dict[str, Any], contact_ids: list[str]) -> None:
        """Seed a deal associated with contacts."""
        self.deals[deal_id] = {"id": deal_id, "properties": dict(properties), "archived": False}
        self.associations[("deals", deal_id, "contacts")] = list(contact_ids)
        for contact_id in contact_ids:
            self.associations.setdefault(("contacts", contact_id, "deals"), []).append(deal_id)

    def handle(self, request: RecordedRequest) -> Response:
        """Route HubSpot endpoints."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, _hubspot_error("Authentication credentials not found.", "INVALID_AUTHENTICATION"), {}
        routed = self.route(
            request,
            [
                ("GET", r"/crm/v3/objects/contacts", self._list),
                ("POST", r"/crm/v3/objects/contacts/search", self._search),
                ("POST", r"/crm/v3/objects/contacts/batch/read", self._batch_read),
                ("GET", r"/crm/v3/objects/contacts/([^/]+)", self._get),
                ("PATCH", r"/crm/v3/objects/contacts/([^/]+)", self._patch_contact),
                ("PATCH", r"/crm/v3/objects/deals/([^/]+)", self._patch_deal),
                ("POST", r"/crm/v3/objects/notes", self._create_note),
                ("POST", r"/crm/v3/objects/notes/batch/read", self._read_notes),
                ("GET", r"/crm/v4/objects/(\w+)/([^/]+)/associations/(\w+)", self._associations),
            ],
        )
        return routed or (404, _hubspot_error("Unknown path", "OBJECT_NOT_FOUND"), {})

    def _view(self, contact: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        props = contact["properties"]
        shown = {"createdate": props["createdate"], "lastmodifieddate": props["lastmodifieddate"]}
        shown["hs_object_id"] = contact["id"]
        for name in wanted:
            shown[name] = props.get(name)
        return {**contact, "properties": shown}

    @staticmethod
    def _wanted(request: RecordedRequest) -> list[str]:
        names: list[str] = []
        for value in request.query.get("properties", []):
            names.extend(n for n in value.split(",") if n)
        return names

    def _get(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return 404, _hubspot_error("resource not found", "OBJECT_NOT_FOUND"), {}
        return 200, self._view(contact, self._wanted(request)), {}

    def _list(self, request: RecordedRequest) -> Response:
        limit = int(request.param("limit") or 10)
        ordered = sorted(self.contacts.values(), key=lambda c: int(c["id"]))
        after = request.param("after")
        if after:
            ordered = [c for c in ordered if int(c["id"]) >= int(after)]
        page, rest = ordered[:limit], ordered[limit:]
        body: dict[str, Any] = {"results": [self._view(c, self._wanted(request)) for c in page]}
        if rest:
            following = rest[0]["id"]
            body["paging"] = {
                "next": {"after": following, "link": f"{self.url}/crm/v3/objects/contacts?after={following}"}
            }
        return 200, body, {}

    def _search(self, request: RecordedRequest) -> Response:
        query = request.json
        limit = int(query.get("limit", 10))
        offset = int(query.get("after") or 0)
        if offset + limit > 10_000:
            return 400, _hubspot_error("Search results are limited to 10,000 records.", "VALIDATION_ERROR"), {}
        matches = list(self.contacts.values())
        for group in query.get("filterGroups", []):
            for condition in group.get("filters", []):
                assert condition["propertyName"] == "lastmodifieddate" and condition["operator"] == "GTE"
                since = int(condition["value"])
                matches = [c for c in matches if _ms(_parse(c["updatedAt"])) >= since]
        matches.sort(key=lambda c: (_parse(c["updatedAt"]), int(c["id"])))
        page = matches[offset : offset + limit]
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [self._view(c, query.get("properties", [])) for c in page],
        }
        if offset + limit < len(matches):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, body, {}

    def _batch_read(self, request: RecordedRequest) -> Response:
        query = request.json
        with_history = query.get("propertiesWithHistory") or []
        if with_history and len(query["inputs"]) > 50:
            message = "The maximum number of inputs supported in a batch request for property histories is 50."
            return 400, _hubspot_error(message, "VALIDATION_ERROR"), {}
        results = []
        for item in query["inputs"]:
            contact = self.contacts.get(str(item["id"]))
            if contact is None:
                continue
            view = self._view(contact, query.get("properties", []))
            if with_history:
                # HubSpot lists a property's history newest first.
                view["propertiesWithHistory"] = {
                    name: [
                        {"value": value, "timestamp": _iso(at), "sourceType": source, "sourceId": None}
                        for value, at, source in reversed(self.history.get(contact["id"], {}).get(name, []))
                    ]
                    for name in with_history
                }
            results.append(view)
        return 200, {"status": "COMPLETE", "results": results}, {}

    def _patch_contact(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return 404, _hubspot_error("resource not found", "OBJECT_NOT_FOUND"), {}
        contact["properties"].update(request.json["properties"])
        return 200, contact, {}

    def _patch_deal(self, request: RecordedRequest, deal_id: str) -> Response:
        deal = self.deals.get(deal_id)
        if deal is None:
            return 404, _hubspot_error("resource not found", "OBJECT_NOT_FOUND"), {}
        deal["properties"].update(request.json["properties"])
        return 200, deal, {}

    def _create_note(self, request: RecordedRequest) -> Response:
        payload = request.json
        properties = payload.get("properties") or {}
        if "hs_timestamp" not in properties:
            return (
                400,
                _hubspot_error("Property values were not valid: hs_timestamp is required", "VALIDATION_ERROR"),
                {},
            )
        note_id = str(next(self._ids))
        note = {
            "id": note_id,
            "properties": dict(properties),
            "createdAt": _iso(self.now),
            "updatedAt": _iso(self.now),
            "archived": False,
        }
        self.notes[note_id] = note
        for association in payload.get("associations", []):
            types = association["types"][0]
            assert types == {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}
            contact_id = str(association["to"]["id"])
            self.associations.setdefault(("contacts", contact_id, "notes"), []).append(note_id)
        return 201, note, {}

    def _read_notes(self, request: RecordedRequest) -> Response:
        payload = request.json
        results = []
        for item in payload["inputs"]:
            note = self.notes.get(str(item["id"]))
            if note is not None:
                props = {k: note["properties"].get(k) for k in payload.get("properties", [])}
                results.append({**note, "properties": props})
        return 200, {"status": "COMPLETE", "results": results}, {}

    def _associations(self, request: RecordedRequest, source: str, object_id: str, target: str) -> Response:
        ids = self.associations.get((source, object_id, target), [])
        results = [
            {"toObjectId": int(i), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 0, "label": None}]}
            for i in ids
        ]
        return 200, {"results": results}, {}


def _hubspot_error(message: str, category: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": "00000000-fake", "category": category}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------- GoHighLevel


class FakeGoHighLevel(FakeApiServer):
    """LeadConnector API v2: contacts (list, search, get, update, tags, notes) and opportunities."""

    def __init__(self, token: str = "pit-test-token", location_id: str = "ve9EPM428h8vShlRW1KT") -> None:
        super().__init__()
        self.token = token
        self.location_id = location_id
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.opportunities: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def add_contact(self, contact: dict[str, Any]) -> None:
        """Seed a contact (API shape)."""
        self.contacts[contact["id"]] = {"locationId": self.location_id, "tags": [], **contact}

    def add_note(self, contact_id: str, body: str, at: datetime) -> str:
        """Seed a note on a contact; its id."""
        note = {"id": f"note{next(self._ids):04d}", "body": body, "userId": "", "dateAdded": _iso(at)}
        self.notes.setdefault(contact_id, []).append({**note, "contactId": contact_id})
        return str(note["id"])

    def add_opportunity(self, opportunity: dict[str, Any]) -> None:
        """Seed an opportunity."""
        self.opportunities[opportunity["id"]] = {"locationId": self.location_id, "status": "open", **opportunity}

    def handle(self, request: RecordedRequest) -> Response:
        """Route GoHighLevel endpoints."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"statusCode": 401, "message": "Invalid JWT"}, {}
        if request.headers.get("version") != "2021-07-28":
            return 400, {"statusCode": 400, "message": "Version header was not found"}, {}
        routed = self.route(
            request,
            [
                ("GET", r"/contacts/", self._list),
                ("POST", r"/contacts/search", self._search),
                ("GET", r"/contacts/([^/]+)", self._get),
                ("PUT", r"/contacts/([^/]+)", self._update),
                ("POST", r"/contacts/([^/]+)/tags", self._add_tags),
                ("DELETE", r"/contacts/([^/]+)/tags", self._remove_tags),
                ("GET", r"/contacts/([^/]+)/notes", self._notes),
                ("POST", r"/contacts/([^/]+)/notes", self._add_note),
                ("GET", r"/opportunities/search", self._opportunity_search),
                ("POST", r"/opportunities/", self._create_opportunity),
                ("PUT", r"/opportunities/([^/]+)", self._update_opportunity),
            ],
        )
        return routed or (404, {"statusCode": 404, "message": "Cannot find the route"}, {})

    def _contact_or_404(self, contact_id: str) -> dict[str, Any] | None:
        return self.contacts.get(contact_id)

    def _order(self) -> list[dict[str, Any]]:
        return sorted(self.contacts.values(), key=lambda c: (_ms(_parse(c["dateAdded"])), c["id"]))

    def _list(self, request: RecordedRequest) -> Response:
        if request.param("locationId") != self.location_id:
            return 403, {"statusCode": 403, "message": "The token does not have access to this location."}, {}
        limit = min(int(request.param("limit") or 20), 100)
        ordered = self._order()
        start_id = request.param("startAfterId")
        if start_id:
            start_ms = int(request.param("startAfter") or 0)
            ordered = [c for c in ordered if (_ms(_parse(c["dateAdded"])), c["id"]) > (start_ms, start_id)]
        page, rest = ordered[:limit], ordered[limit:]
        meta: dict[str, Any] = {"total": len(self.contacts), "currentPage": None, "prevPage": None}
        if page:
            last = page[-1]
            meta["startAfterId"] = last["id"]
            meta["startAfter"] = _ms(_parse(last["dateAdded"]))
        if rest and page:
            query = urlencode(
                {
                    "locationId": self.location_id,
                    "limit": limit,
                    "startAfterId": meta["startAfterId"],
                    "startAfter": meta["startAfter"],
                }
            )
            meta["nextPageUrl"] = f"{self.url}/contacts/?{query}"
            meta["nextPage"] = 2
        else:
            meta["nextPageUrl"] = None
            meta["nextPage"] = None
        return 200, {"contacts": page, "count": len(page), "meta": meta}, {}

    def _search(self, request: RecordedRequest) -> Response:
        query = request.json
        if query.get("locationId") != self.location_id:
            return 403, {"statusCode": 403, "message": "The token does not have access to this location."}, {}
        limit = int(query.get("pageLimit", 20))
        matches = list(self.contacts.values())
        for condition in query.get("filters", []):
            assert condition["field"] == "dateUpdated" and condition["operator"] == "range"
            since = _parse(condition["value"]["gte"])
            matches = [c for c in matches if _parse(c.get("dateUpdated") or c["dateAdded"]) >= since]

        def key(c: dict[str, Any]) -> tuple[int, str]:
            return _ms(_parse(c.get("dateUpdated") or c["dateAdded"])), c["id"]

        matches.sort(key=key)
        after = query.get("searchAfter")
        matches_after = [c for c in matches if key(c) > (int(after[0]), str(after[1]))] if after else matches
        page = [{**c, "searchAfter": list(key(c))} for c in matches_after[:limit]]
        return 200, {"contacts": page, "total": len(matches)}, {}

    def _get(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self._contact_or_404(contact_id)
        if contact is None:
            return 400, {"statusCode": 400, "message": "Contact not found"}, {}
        return 200, {"contact": contact}, {}

    def _update(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self._contact_or_404(contact_id)
        if contact is None:
            return 400, {"statusCode": 400, "message": "Contact not found"}, {}
        contact.update(request.json)
        return 200, {"succeded": True, "contact": contact}, {}

    def _add_tags(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self.contacts[contact_id]
        for tag in request.json["tags"]:
            if tag not in contact["tags"]:
                contact["tags"].append(tag)
        return 201, {"tags": contact["tags"]}, {}

    def _remove_tags(self, request: RecordedRequest, contact_id: str) -> Response:
        contact = self.contacts[contact_id]
        contact["tags"] = [t for t in contact["tags"] if t not in request.json["tags"]]
        return 200, {"tags": contact["tags"]}, {}

    def _notes(self, request: RecordedRequest, contact_id: str) -> Response:
        return 200, {"notes": self.notes.get(contact_id, [])}, {}

    def _add_note(self, request: RecordedRequest, contact_id: str) -> Response:
        note = {
            "id": f"note{next(self._ids):04d}",
            "body": request.json["body"],
            "userId": request.json.get("userId", ""),
            "dateAdded": _iso(self.now),
            "contactId": contact_id,
        }
        self.notes.setdefault(contact_id, []).append(note)
        return 201, {"note": note}, {}

    def _opportunity_search(self, request: RecordedRequest) -> Response:
        found = [
            o
            for o in self.opportunities.values()
            if o.get("contactId") == request.param("contact_id")
            and (request.param("pipeline_id") is None or o.get("pipelineId") == request.param("pipeline_id"))
        ]
        return 200, {"opportunities": found, "meta": {"total": len(found)}}, {}

    def _create_opportunity(self, request: RecordedRequest) -> Response:
        opportunity = {"id": f"opp{next(self._ids):04d}", **request.json}
        self.opportunities[opportunity["id"]] = opportunity
        return 201, {"opportunity": opportunity}, {}

    def _update_opportunity(self, request: RecordedRequest, opportunity_id: str) -> Response:
        opportunity = self.opportunities.get(opportunity_id)
        if opportunity is None:
            return 404, {"statusCode": 404, "message": "Opportunity not found"}, {}
        opportunity.update(request.json)
        return 200, {"opportunity": opportunity}, {}


# --------------------------------------------------------------------------------------------------- Twilio


class FakeTwilio(FakeApiServer):
    """The 2010-04-01 Messages resource (create, list) and status callbacks signed like Twilio signs them."""

    def __init__(self, account_sid: str = "AC" + "0" * 31 + "1", auth_token: str = "twilio-auth-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, dict[str, Any]] = {}
        self._counter = itertools.count(1)
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def handle(self, request: RecordedRequest) -> Response:
        """Route the Messages resource."""
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, _twilio_error(20003, "Authenticate", 401), {}
        routed = self.route(
            request,
            [
                ("POST", rf"/2010-04-01/Accounts/{self.account_sid}/Messages.json", self._create),
                ("GET", rf"/2010-04-01/Accounts/{self.account_sid}/Messages.json", self._list),
            ],
        )
        return routed or (404, _twilio_error(20404, "The requested resource was not found", 404), {})

    def _create(self, request: RecordedRequest) -> Response:
        form = request.form
        to = form.get("To", "")
        number = to.removeprefix("whatsapp:")
        if not re.fullmatch(r"\+[1-9]\d{7,14}", number):
            return 400, _twilio_error(21211, f"Invalid 'To' Phone Number: {to}", 400), {}
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, _twilio_error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400), {}
        if not form.get("Body"):
            return 400, _twilio_error(21602, "Message body is required.", 400), {}
        sid = "SM" + hashlib.md5(f"{next(self._counter)}".encode()).hexdigest()
        created = format_datetime(self.now)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if form.get("From") else "accepted",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "_status_callback": form.get("StatusCallback"),
        }
        self.messages[sid] = message
        return 201, {k: v for k, v in message.items() if not k.startswith("_")}, {}

    def _list(self, request: RecordedRequest) -> Response:
        found = [
            {k: v for k, v in m.items() if not k.startswith("_")}
            for m in self.messages.values()
            if m["to"] == request.param("To") and (request.param("From") in (None, m["from"]))
        ]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return 200, {"messages": found, "page": 0, "page_size": 50, "first_page_uri": uri, "next_page_uri": None}, {}

    def fire_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        client: httpx.Client | None = None,
        public_base: str = "",
    ) -> httpx.Response:
        """POST a status callback to the message's StatusCallback URL, signed with the auth token.

        With ``client`` (a TestClient) the request goes to it instead, at the callback's path: the URL signed
        stays the public one, as behind a proxy.
        """
        message = self.messages[sid]
        callback = message["_status_callback"]
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"] or "",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        # Written out here rather than imported, so the test does not check our code against itself.
        signed = callback + "".join(k + form[k] for k in sorted(form))
        digest = hmac.new(self.auth_token.encode(), signed.encode(), hashlib.sha1).digest()
        headers = {"X-Twilio-Signature": base64.b64encode(digest).decode()}
        message["status"] = status
        if client is not None:
            return client.post(callback.removeprefix(public_base), data=form, headers=headers)
        return httpx.post(callback, data=form, headers=headers, timeout=5)


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
