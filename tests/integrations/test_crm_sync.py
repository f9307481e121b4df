"""Backfill: pagination across pages, interruption mid-way, resume from the saved cursor without duplicates."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from tests.fakes.crm_servers import FakeGoHighLevel, FakeHubSpot
from tests.integrations.helpers import START, Sleeps

from nightcrew.clock import FakeClock
from nightcrew.crm.connectors import hubspot as hubspot_module
from nightcrew.crm.connectors.gohighlevel import GoHighLevelConnector
from nightcrew.crm.connectors.http import CrmApiError
from nightcrew.crm.connectors.hubspot import HubSpotConnector
from nightcrew.crm.mapping import CrmSettings
from nightcrew.crm.sync import InMemoryCheckpointStore, SyncPage, sync_contacts
from nightcrew.events.schemas import parse_event


def seed_hubspot(server: FakeHubSpot, count: int = 7, bad: str | None = "105") -> None:
    for n in range(count):
        contact_id = str(101 + n)
        server.add_contact(
            contact_id,
            {
                "firstname": f"Parent{n}",
                "email": "broken@" if contact_id == bad else f"parent{n}@example.com",
                "child_age": str(7 + n),
                "lifecyclestage": "lead",
            },
            created=START - timedelta(days=30 - n),
            updated=START - timedelta(days=10 - n),
        )


class Collected:
    """A sink that stores pages (standing in for the event log) and can crash on demand."""

    def __init__(self) -> None:
        self.pages: list[SyncPage] = []

    def __call__(self, page: SyncPage) -> None:
        self.pages.append(page)

    def event_ids(self) -> Counter[str]:
        return Counter(e["id"] for page in self.pages for e in page.events)


def test_hubspot_backfill_pages_fails_mid_way_and_resumes_without_duplicates(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_hubspot(hubspot)
    mapping = crm_settings.for_crm("hubspot")
    connector = HubSpotConnector.connect(hubspot.token, mapping, base_url=hubspot.url, clock=clock, sleep=sleeps)
    store = InMemoryCheckpointStore()
    sink = Collected()
    progress: list[tuple[int, int | None]] = []
    # The second page keeps failing: every retry is used up and the run stops.
    hubspot.script(r"/crm/v3/objects/contacts", 503, method="GET", skip=1, times=4)
    with pytest.raises(CrmApiError) as info:
        sync_contacts(
            connector, mapping, store, None, lambda d, t: progress.append((d, t)), tenant="acme", sink=sink, page_size=3
        )
    assert info.value.retryable
    saved = store.load("acme", "hubspot")
    assert saved is not None and saved.done == 3 and not saved.finished and saved.cursor is not None
    assert progress == [(3, None)]
    assert len(sink.event_ids()) == 3
    # Run again: it starts from the saved cursor, not from the first page.
    result = sync_contacts(
        connector, mapping, store, None, lambda d, t: progress.append((d, t)), tenant="acme", sink=sink, page_size=3
    )
    assert result.resumed and result.pages == 2 and result.done == 7
    assert progress == [(3, None), (6, None), (7, None)]
    pages = [r.param("after") for r in hubspot.calls("GET", r"/crm/v3/objects/contacts")]
    assert pages == [None, "104", "104", "104", "104", "104", "107"]
    ids = sink.event_ids()
    assert len(ids) == 6 and set(ids.values()) == {1}
    [error] = [e for page in sink.pages for e in page.errors]
    assert error.record_id == "105" and error.errors[0].field == "email -> email"
    for page in sink.pages:
        for event in page.events:
            parse_event(event)
    final = store.load("acme", "hubspot")
    assert final is not None and final.finished and final.errors == 1
    assert final.high_water == START - timedelta(days=10 - 6)


def test_a_finished_sync_run_again_yields_the_same_event_ids(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_hubspot(hubspot, count=4, bad=None)
    mapping = crm_settings.for_crm("hubspot")
    connector = HubSpotConnector.connect(hubspot.token, mapping, base_url=hubspot.url, clock=clock, sleep=sleeps)
    store = InMemoryCheckpointStore()
    first = sync_contacts(connector, mapping, store, tenant="acme", page_size=3)
    second = sync_contacts(connector, mapping, store, tenant="acme", page_size=3)
    assert not second.resumed
    assert [e["id"] for e in first.events] == [e["id"] for e in second.events]
    assert len({e["id"] for e in first.events}) == 4


def test_hubspot_since_uses_search_and_restarts_past_the_result_window(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_hubspot(hubspot, count=7, bad=None)
    monkeypatch.setattr(hubspot_module, "SEARCH_WINDOW", 4)
    mapping = crm_settings.for_crm("hubspot")
    connector = HubSpotConnector.connect(hubspot.token, mapping, base_url=hubspot.url, clock=clock, sleep=sleeps)
    since = START - timedelta(days=8)
    result = sync_contacts(connector, mapping, InMemoryCheckpointStore(), since, tenant="acme", page_size=2)
    assert [e["contact"]["external_id"] for e in result.events] == [f"hubspot:{n}" for n in range(103, 108)]
    assert result.total == 5
    searches = hubspot.calls("POST", r"/crm/v3/objects/contacts/search")
    filters = [(s.json["filterGroups"][0]["filters"][0]["value"], s.json.get("after")) for s in searches]
    since_ms = str(int(since.timestamp() * 1000))
    restart_ms = str(int((START - timedelta(days=10 - 5)).timestamp() * 1000))
    # After two pages (offset 4 reaches the window) the query restarts at the last seen modification time.
    assert filters == [(since_ms, None), (since_ms, "2"), (restart_ms, None)]
    assert searches[0].json["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]


def seed_ghl(server: FakeGoHighLevel, count: int = 7) -> None:
    for n in range(count):
        added = START - timedelta(days=30 - n)
        server.add_contact(
            {
                "id": f"ghl{n:03d}",
                "firstName": f"Pai{n}",
                "email": f"pai{n}@example.com",
                "dateAdded": added.isoformat().replace("+00:00", "Z"),
                "dateUpdated": (added + timedelta(days=n)).isoformat().replace("+00:00", "Z"),
                "customFields": [{"id": "Xq7Ch1dAge", "value": 6 + n}],
            }
        )


def test_gohighlevel_backfill_follows_start_after_across_three_pages(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ghl(ghl)
    mapping = crm_settings.for_crm("gohighlevel")
    connector = GoHighLevelConnector.connect(
        ghl.token, ghl.location_id, mapping, base_url=ghl.url, clock=clock, sleep=sleeps
    )
    progress: list[tuple[int, int | None]] = []
    result = sync_contacts(
        connector,
        mapping,
        InMemoryCheckpointStore(),
        None,
        lambda d, t: progress.append((d, t)),
        tenant="acme",
        page_size=3,
    )
    assert result.pages == 3 and len(result.events) == 7 and result.errors == []
    assert progress == [(3, 7), (6, 7), (7, 7)]
    calls = ghl.calls("GET", r"/contacts/")
    assert [(c.param("startAfterId"), c.param("limit"), c.param("locationId")) for c in calls] == [
        (None, "3", ghl.location_id),
        ("ghl002", "3", ghl.location_id),
        ("ghl005", "3", ghl.location_id),
    ]
    assert calls[1].param("startAfter") == str(int((START - timedelta(days=28)).timestamp() * 1000))
    assert result.events[0]["contact"]["fields"] == {"child_age": 6}


def test_gohighlevel_since_uses_the_search_endpoint(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ghl(ghl)
    mapping = crm_settings.for_crm("gohighlevel")
    connector = GoHighLevelConnector.connect(
        ghl.token, ghl.location_id, mapping, base_url=ghl.url, clock=clock, sleep=sleeps
    )
    since = START - timedelta(days=25)
    result = sync_contacts(connector, mapping, InMemoryCheckpointStore(), since, tenant="acme", page_size=2)
    # dateUpdated = dateAdded + n days = START - 30 + 2n days >= START - 25 for n >= 3.
    assert [e["contact"]["external_id"] for e in result.events] == [f"ghl:ghl{n:03d}" for n in range(3, 7)]
    searches = ghl.calls("POST", r"/contacts/search")
    assert searches[0].json == {
        "locationId": ghl.location_id,
        "pageLimit": 2,
        "filters": [{"field": "dateUpdated", "operator": "range", "value": {"gte": "2025-12-11T12:00:00.000Z"}}],
        "sort": [{"field": "dateUpdated", "direction": "asc"}],
    }
    assert searches[1].json["searchAfter"] == [int((START - timedelta(days=30 - 8)).timestamp() * 1000), "ghl004"]
    assert len(searches) == 3  # the last full page is followed by an empty one


def test_notes_come_along_when_asked(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seed_ghl(ghl, count=2)
    ghl.notes["ghl001"] = [
        {"id": "n1", "body": "Called, no answer", "dateAdded": "2025-12-20T10:00:00Z", "contactId": "ghl001"}
    ]
    mapping = crm_settings.for_crm("gohighlevel")
    connector = GoHighLevelConnector.connect(
        ghl.token, ghl.location_id, mapping, base_url=ghl.url, clock=clock, sleep=sleeps
    )
    sink = Collected()
    sync_contacts(connector, mapping, InMemoryCheckpointStore(), tenant="acme", sink=sink, with_notes=True)
    [page] = sink.pages
    assert [n.body for n in page.notes["ghl:ghl001"]] == ["Called, no answer"] and page.notes["ghl:ghl000"] == []
