"""Minimal reproductions of the server errors hostile input causes (found with schemathesis and by hand).

Each test states what the API answers instead of a 500 (on SQLite and on PostgreSQL, which refuses more).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.api.app import create_app

AUTH = {"Authorization": "Bearer test-admin-key", "Content-Type": "application/json"}


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    env.container.settings.default_tenant = env.tenant.slug
    app = create_app(env.container.settings, container=env.container)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("method,path", [("GET", ""), ("POST", "/approve"), ("POST", "/reject")])
def test_a_review_item_id_out_of_range_is_not_found_not_a_server_error(
    client: TestClient, method: str, path: str
) -> None:
    body = {"reason": "no"} if path == "/reject" else {}
    response = client.request(method, f"/v1/review/{2**63}{path}", json=body, headers=AUTH)
    assert response.status_code in (404, 422), response.text


def test_a_review_offset_out_of_range_is_rejected_not_a_server_error(client: TestClient) -> None:
    response = client.get(f"/v1/review?offset={2**63}", headers=AUTH)
    assert response.status_code == 422, response.text


def test_a_nul_character_in_an_event_is_rejected_naming_the_field(client: TestClient) -> None:
    response = client.post("/v1/events", content=json.dumps(lead("nul-1", "nc-1", name="Ana\x00Gómez")), headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["details"]
    assert error["field"] == "contact.name" and "NUL" in error["reason"]
    assert client.get("/v1/events/nul-1", headers=AUTH).status_code == 404  # nothing was stored


def test_one_bad_event_does_not_sink_the_valid_events_of_its_batch(client: TestClient) -> None:
    batch = {"events": [lead("ok-1", "oc-1"), lead("nul-2", "nc-2", location="Bogo\x00tá")]}
    response = client.post("/v1/events", content=json.dumps(batch), headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [a["id"] for a in body["accepted"]] == ["ok-1"]
    [rejected] = body["rejected"]
    assert rejected["index"] == 1 and rejected["errors"][0]["field"] == "contact.location"
    assert client.get("/v1/events/ok-1", headers=AUTH).status_code == 200


def test_a_nul_character_inside_an_intake_field_is_rejected_with_its_path(client: TestClient) -> None:
    body = lead("nul-3", "nc-3", fields={"notes": "bad\x00"})
    response = client.post("/v1/events", content=json.dumps(body), headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["details"]
    assert error["field"].startswith("contact.fields") and "NUL" in error["reason"]


def test_a_nul_character_in_an_event_id_lookup_is_not_a_server_error(client: TestClient) -> None:
    assert client.get("/v1/events/a%00b", headers=AUTH).status_code in (404, 422)
    assert client.get("/v1/contacts/a%00b/timeline", headers=AUTH).status_code in (404, 422)
    assert client.post("/v1/hooks/events/a%00b", content=b"{}", headers=AUTH).status_code in (401, 404, 422)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_an_event_are_rejected(client: TestClient, constant: str) -> None:
    body = json.dumps(lead("nan-1", "nanc-1", fields={"child_age": 9})).replace('"child_age": 9', f'"x": {constant}')
    response = client.post("/v1/events", content=body, headers=AUTH)
    assert response.status_code == 422, response.text
