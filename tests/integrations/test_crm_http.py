"""The shared CRM HTTP client: 429/Retry-After honoured, 5xx retried when safe, 4xx never, no secrets in logs."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from structlog.testing import capture_logs
from tests.fakes.crm_servers import FakeGoHighLevel, FakeHubSpot
from tests.integrations.helpers import START, Sleeps

from nightcrew.clock import FakeClock
from nightcrew.crm.connectors.base import CrmUpdate
from nightcrew.crm.connectors.gohighlevel import GoHighLevelConnector
from nightcrew.crm.connectors.http import CrmApiError
from nightcrew.crm.connectors.hubspot import HubSpotConnector
from nightcrew.crm.mapping import CrmSettings
from nightcrew.errors import NotFound

RATE_LIMITED = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT"}


def seeded(hubspot: FakeHubSpot) -> FakeHubSpot:
    hubspot.add_contact("101", {"firstname": "Ana", "email": "ana@example.com"}, created=START, updated=START)
    return hubspot


def connector(hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps) -> HubSpotConnector:
    return HubSpotConnector.connect(
        hubspot.token, crm_settings.for_crm("hubspot"), base_url=hubspot.url, clock=clock, sleep=sleeps
    )


def test_429_waits_exactly_as_long_as_retry_after_says(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 429, headers={"Retry-After": "2"}, body=RATE_LIMITED)
    contact = connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert contact.fields["firstname"] == "Ana"
    assert sleeps.waits == [2.0]
    assert len(hubspot.calls("GET")) == 2


def test_retry_after_as_an_http_date(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 429, headers={"Retry-After": when})
    connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert sleeps.waits == [7.0]


def test_a_retry_after_too_long_to_wait_in_a_step_is_handed_back(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 429, headers={"Retry-After": "120"})
    with pytest.raises(CrmApiError) as info:
        connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert info.value.retryable and info.value.retry_after == 120.0
    hubspot.script(r"/crm/v3/objects/contacts/101", 503, headers={"Retry-After": "600"})
    with pytest.raises(CrmApiError) as maintenance:
        connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert maintenance.value.retryable and maintenance.value.retry_after == 600.0
    assert sleeps.waits == []


def test_5xx_on_a_read_is_retried_with_backoff(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 503, times=2)
    connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert len(hubspot.calls("GET")) == 3
    assert len(sleeps.waits) == 2
    assert 0.25 <= sleeps.waits[0] <= 0.5 and 0.5 <= sleeps.waits[1] <= 1.0


def test_5xx_that_never_ends_gives_up_retryable(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 500, times=10)
    with pytest.raises(CrmApiError) as info:
        connector(hubspot, crm_settings, clock, sleeps).get_contact("101")
    assert info.value.retryable and info.value.http_status == 500
    assert len(hubspot.calls("GET")) == 4 and len(sleeps.waits) == 3


def test_4xx_is_never_retried(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(
        r"/crm/v3/objects/contacts/101",
        400,
        method="PATCH",
        body={"status": "error", "message": "Property values were not valid"},
    )
    hub = connector(hubspot, crm_settings, clock, sleeps)
    with pytest.raises(CrmApiError) as info:
        hub.write_back(CrmUpdate(contact_id="101", segment="hot"))
    assert not info.value.retryable and "Property values were not valid" in info.value.message
    with pytest.raises(NotFound):
        hub.get_contact("999")
    bad_token = HubSpotConnector.connect("wrong", crm_settings.for_crm("hubspot"), base_url=hubspot.url, sleep=sleeps)
    with pytest.raises(CrmApiError) as denied:
        bad_token.get_contact("101")
    assert denied.value.http_status == 401 and "credentials" in denied.value.message
    assert len(hubspot.calls("PATCH")) == 1 and sleeps.waits == []


def test_a_create_is_retried_after_429_but_not_after_5xx(
    ghl: FakeGoHighLevel, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    ghl.add_contact({"id": "c1", "dateAdded": "2026-01-01T00:00:00Z"})
    api = GoHighLevelConnector.connect(
        ghl.token, ghl.location_id, crm_settings.for_crm("gohighlevel"), base_url=ghl.url, sleep=sleeps
    ).api
    ghl.script(r"/contacts/c1/notes", 429, method="POST", headers={"Retry-After": "1"})
    api.post("/contacts/c1/notes", {"body": "first"})
    assert [n["body"] for n in ghl.notes["c1"]] == ["first"] and sleeps.waits == [1.0]
    ghl.script(r"/contacts/c1/notes", 502, method="POST")
    with pytest.raises(CrmApiError) as info:
        api.post("/contacts/c1/notes", {"body": "second"})
    assert info.value.ambiguous and not info.value.retryable
    assert len(ghl.calls("POST", r"/contacts/c1/notes")) == 3


def test_secrets_never_reach_the_logs(
    hubspot: FakeHubSpot, crm_settings: CrmSettings, clock: FakeClock, sleeps: Sleeps
) -> None:
    seeded(hubspot).script(r"/crm/v3/objects/contacts/101", 503, times=2)
    hub = connector(hubspot, crm_settings, clock, sleeps)
    with capture_logs() as logs:
        hub.get_contact("101")
    assert [entry["event"] for entry in logs] == ["crm_retry", "crm_retry"]
    assert logs[0]["path"] == "/crm/v3/objects/contacts/101"
    assert hubspot.token not in repr(logs)
    assert hubspot.token not in repr(hub.api)
