"""The human review queue: a risky draft waits for a person; approval re-checks edits; rejection sends nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.support.events import lead
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.bootstrap import TenantRef
from nightcrew.db import transaction
from nightcrew.review.repository import ExampleRepository
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.review import wait_for_review_send

RISKY = (
    "Hola {{ first_name }}, en {{ business.name }} le garantizamos que su hijo hablará inglés fluido en 3 meses. "
    "Agende aquí: {{ business.booking_url }}\n{{ signature }}"
)
AUTH = {"Authorization": "Bearer test-admin-key"}


def _review_claims(data: dict[str, Any]) -> None:
    data["guardrails"]["claims"]["on_unapproved"] = "review"


@pytest.fixture
def tenant(env: Env, tmp_path: Path) -> TenantRef:
    path = custom_playbook(tmp_path / "pb", _review_claims, {"es/first_touch_warm.j2": RISKY})
    return env.container.ensure_tenant(f"{env.tenant.slug}r", "Review tenant", path)


@pytest.fixture
def client(env: Env, tenant: TenantRef) -> Iterator[TestClient]:
    env.container.settings.default_tenant = tenant.slug
    with TestClient(create_app(env.container.settings, container=env.container)) as test_client:
        yield test_client


def _lead_into_review(env: Env, tenant: TenantRef, n: int, **contact: Any) -> dict[str, Any]:
    report = ingest(env.container, tenant, [lead(f"evt-r{n}", f"c-r{n}", **contact)], source="test")
    result: dict[str, Any] = DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    return result


def sent(env: Env) -> list[dict[str, Any]]:
    return [json.loads(line) for line in env.outbox.read_text().splitlines()] if env.outbox.exists() else []


def test_unapproved_promise_goes_to_review_not_to_the_contact(env: Env, tenant: TenantRef, client: TestClient) -> None:
    result = _lead_into_review(env, tenant, 1)
    assert result["status"] == "done" and result["verdict"] == "review"
    assert sent(env) == []
    listing = client.get("/v1/review", headers=AUTH).json()
    [item] = listing["items"]
    assert item["status"] == "open" and "garantizamos" in item["draft"]
    assert any(r.startswith("claims:") for r in item["reasons"])
    assert listing["counts"] == {"open": 1}


def test_approving_an_edit_that_still_promises_is_refused(env: Env, tenant: TenantRef, client: TestClient) -> None:
    _lead_into_review(env, tenant, 2)
    [item] = client.get("/v1/review", headers=AUTH).json()["items"]
    refused = client.post(
        f"/v1/review/{item['id']}/approve",
        json={"text": "Hola Ana, le damos 50% de descuento si se inscribe hoy."},
        headers=AUTH,
    )
    assert refused.status_code == 422
    assert any("claims" in r for r in refused.json()["details"]), refused.json()
    assert client.get(f"/v1/review/{item['id']}", headers=AUTH).json()["status"] == "open"
    assert sent(env) == []


def test_approving_the_draft_as_it_stands_settles_its_review_verdicts_and_sends_it_once(
    env: Env, tenant: TenantRef, client: TestClient
) -> None:
    _lead_into_review(env, tenant, 5, phone=None, email="ana5@example.com")
    [item] = client.get("/v1/review", headers=AUTH).json()["items"]
    approved = client.post(f"/v1/review/{item['id']}/approve", json={"note": "ok for this family"}, headers=AUTH)
    assert approved.status_code == 200, approved.text
    wait_for_review_send(item["id"])
    [line] = sent(env)
    assert "garantizamos" in line["body"]  # the operator made these claims a person's call, and the person said yes
    timeline = client.get("/v1/contacts/c-r5/timeline", headers=AUTH).json()
    [decision] = [
        i["action"] for i in timeline["items"] if i["type"] == "action" and i["action"]["kind"] == "review.approved"
    ]
    assert any(r.startswith("claims:") for r in decision["output"]["approved_over"])
    assert "over: claims:" in decision["reason"]


def test_approving_clean_edit_sends_once_and_stores_the_correction(
    env: Env, tenant: TenantRef, client: TestClient
) -> None:
    # By email: an edited text is free-form, which WhatsApp refuses outside its 24-hour window.
    _lead_into_review(env, tenant, 3, phone=None, email="ana@example.com")
    [item] = client.get("/v1/review", headers=AUTH).json()["items"]
    edited = "Hola Ana, en Aurora Kids Academy la primera clase de prueba es gratis y dura 45 minutos. ¿La agendamos?"
    approved = client.post(f"/v1/review/{item['id']}/approve", json={"text": edited, "segment": "hot"}, headers=AUTH)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["message_status"] == "pending"
    wait_for_review_send(item["id"])
    [line] = sent(env)
    assert line["body"] == edited
    again = client.post(f"/v1/review/{item['id']}/approve", json={}, headers=AUTH)
    assert again.status_code == 409
    with transaction(env.container.sessions) as session:
        [example] = ExampleRepository(session, tenant.id).of_kind("segment")
        assert example.label == "hot" and example.predicted == "warm"
    timeline = client.get("/v1/contacts/c-r3/timeline", headers=AUTH).json()
    kinds = [i["action"]["kind"] for i in timeline["items"] if i["type"] == "action"]
    assert "review.approved" in kinds and kinds.count("message.sent") == 1
    assert timeline["contact"]["segment"] == "hot"


def test_rejection_needs_a_reason_and_sends_nothing(env: Env, tenant: TenantRef, client: TestClient) -> None:
    _lead_into_review(env, tenant, 4)
    [item] = client.get("/v1/review", headers=AUTH).json()["items"]
    assert client.post(f"/v1/review/{item['id']}/reject", json={"reason": ""}, headers=AUTH).status_code == 422
    rejected = client.post(f"/v1/review/{item['id']}/reject", json={"reason": "promises results"}, headers=AUTH)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert sent(env) == []
    decided = client.get("/v1/review?status=rejected", headers=AUTH).json()["items"]
    assert [d["decision_note"] for d in decided] == ["promises results"]


def test_review_needs_the_review_scope(env: Env, tenant: TenantRef, client: TestClient) -> None:
    from nightcrew.crm.keys import issue_key

    _lead_into_review(env, tenant, 5)
    with transaction(env.container.sessions) as session:
        reader = issue_key(session, tenant.id, "reader", ["read"], env.clock.now())
    headers = {"Authorization": f"Bearer {reader.secret}"}
    [item] = client.get("/v1/review", headers=headers).json()["items"]
    assert client.post(f"/v1/review/{item['id']}/approve", json={}, headers=headers).status_code == 403


def test_editing_a_whatsapp_template_outside_the_window_is_refused(
    env: Env, tenant: TenantRef, client: TestClient
) -> None:
    _lead_into_review(env, tenant, 6)
    [item] = client.get("/v1/review", headers=AUTH).json()["items"]
    refused = client.post(
        f"/v1/review/{item['id']}/approve", json={"text": "Hola Ana, ¿agendamos una clase?"}, headers=AUTH
    )
    assert refused.status_code == 422
    assert any("24-hour window" in r for r in refused.json()["details"])
