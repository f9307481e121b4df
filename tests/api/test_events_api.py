"""The events API end to end: HTTP in, durable workflow, send, status and timeline out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.api.app import create_app

AUTH = {"Authorization": "Bearer test-admin-key"}


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    env.container.settings.default_tenant = env.tenant.slug
    with TestClient(create_app(env.container.settings, container=env.container)) as test_client:
        yield test_client


def wait_done(env: Env, event_id: str) -> dict[str, Any]:
    result: dict[str, Any] = DBOS.retrieve_workflow(f"{env.tenant.slug}:{event_id}").get_result()
    return result


def test_post_event_runs_the_workflow_and_reports_status(client: TestClient, env: Env) -> None:
    response = client.post("/v1/events", json=lead("evt-1", "c-1"), headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": "evt-1", "type": "lead.created", "status": "received"}
    assert len(response.headers["X-Trace-Id"]) == 32
    wait_done(env, "evt-1")
    status = client.get("/v1/events/evt-1", headers=AUTH).json()
    assert status["status"] == "done"
    assert [a["kind"] for a in status["actions"]][:2] == ["contact.upserted", "lead.classified"]
    assert status["trace_id"] == response.headers["X-Trace-Id"]
    assert all(a["trace_id"] == status["trace_id"] for a in status["actions"])
    timeline = client.get("/v1/contacts/c-1/timeline", headers=AUTH).json()
    assert [i["type"] for i in timeline["items"]].count("message") == 1


def test_known_id_answers_200_and_starts_nothing(client: TestClient, env: Env) -> None:
    client.post("/v1/events", json=lead("evt-2", "c-2"), headers=AUTH)
    wait_done(env, "evt-2")
    again = client.post("/v1/events", json=lead("evt-2", "c-2"), headers=AUTH)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["status"] == "done"
    assert len(env.outbox.read_text().splitlines()) == 1


def test_event_without_id_gets_one(client: TestClient, env: Env) -> None:
    response = client.post("/v1/events", json=lead(None, "c-3"), headers=AUTH)
    assert response.status_code == 202
    assert response.json()["id"].startswith("evt_")
    wait_done(env, response.json()["id"])


def test_malformed_event_gets_422_naming_the_field(client: TestClient) -> None:
    bad = lead("evt-bad", "c-bad")
    bad["occurred_at"] = "yesterday"
    response = client.post("/v1/events", json=bad, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "occurred_at"


def test_batch_keeps_valid_events_and_reports_rejected_by_index(client: TestClient, env: Env) -> None:
    bad = lead("evt-b1", "c-b1")
    bad["contact"]["email"] = "not-an-email"
    batch = {"events": [lead("evt-b0", "c-b0"), bad, {"type": "lead.created"}, lead("evt-b0", "c-b0")]}
    response = client.post("/v1/events", json=batch, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert [a["id"] for a in body["accepted"]] == ["evt-b0"]
    assert [d["id"] for d in body["duplicates"]] == ["evt-b0"]
    rejected = {r["index"]: r for r in body["rejected"]}
    assert rejected[1]["errors"] == [{"field": "contact.email", "reason": "not an email address"}]
    assert {e["field"] for e in rejected[2]["errors"]} == {"occurred_at", "contact"}
    wait_done(env, "evt-b0")


def test_all_rejected_batch_is_422(client: TestClient) -> None:
    response = client.post("/v1/events", json={"events": [{"type": "nope"}]}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["rejected"][0]["index"] == 0


def test_batch_over_the_limit_is_rejected(client: TestClient, env: Env) -> None:
    env.container.settings.max_batch_events = 2
    response = client.post("/v1/events", json={"events": [lead(None, "x")] * 3}, headers=AUTH)
    assert response.status_code == 422
    assert "at most 2 events" in response.json()["message"]


def test_body_size_limit_is_413(client: TestClient, env: Env) -> None:
    env.container.settings.max_body_bytes = 1024
    response = client.post("/v1/events", json={"events": [lead(None, "x" * 50)] * 20}, headers=AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_authentication_is_required(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/events", json=lead("evt-x", "c-x"), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/events/evt-x", headers=headers).status_code == 401


def test_unknown_event_and_contact_are_404(client: TestClient) -> None:
    assert client.get("/v1/events/nope", headers=AUTH).status_code == 404
    assert client.get("/v1/contacts/nope/timeline", headers=AUTH).status_code == 404


def test_invalid_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/events", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["message"]


def test_metrics_endpoint(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "nightcrew_actions_total" in response.text
    # The gauges are read from the database at scrape time: the waiting work by queue, including the human queue.
    for queue in ("events", "deferred_messages", "followups_due", "review_open", "awaiting_model"):
        assert f'nightcrew_queue_depth{{queue="{queue}"}}' in response.text
