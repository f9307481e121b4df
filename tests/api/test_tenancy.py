"""Tenants: hashed keys with scopes, rate limits, and tenant A never reading or changing tenant B's data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from nightcrew.crm.keys import hash_key, issue_key
from nightcrew.crm.repository import ApiKeyRepository
from nightcrew.db import transaction
from nightcrew.events.adapters.generic import sign_generic
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.review import wait_for_review_send


@pytest.fixture
def two_tenants(env: Env) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str], Env]]:
    other = env.container.ensure_tenant(f"{env.tenant.slug}b", "Other location")
    with transaction(env.container.sessions) as session:
        key_a = issue_key(session, env.tenant.id, "a", ["events:write", "read"], env.clock.now())
        key_b = issue_key(session, other.id, "b", ["admin"], env.clock.now())
    with TestClient(create_app(env.container.settings, container=env.container)) as client:
        yield (client, {"Authorization": f"Bearer {key_a.secret}"}, {"Authorization": f"Bearer {key_b.secret}"}, env)


def test_keys_are_stored_hashed(env: Env) -> None:
    with transaction(env.container.sessions) as session:
        issued = issue_key(session, env.tenant.id, "x", ["read"], env.clock.now())
        row = ApiKeyRepository(session).by_hash(hash_key(issued.secret))
        assert row is not None and row.key_hash != issued.secret and issued.secret not in row.prefix * 2
        assert row.prefix == issued.secret[:10]


def test_tenant_a_cannot_read_or_change_tenant_b(
    two_tenants: tuple[TestClient, dict[str, str], dict[str, str], Env],
) -> None:
    client, a, b, env = two_tenants
    # B writes an event about contact "shared".
    response = client.post("/v1/events", json=lead("evt-b", "shared"), headers=b)
    assert response.status_code == 202
    DBOS.retrieve_workflow(f"{env.tenant.slug}b:evt-b").get_result()
    assert client.get("/v1/events/evt-b", headers=b).status_code == 200
    # A sees none of it: not the event, not the contact.
    assert client.get("/v1/events/evt-b", headers=a).status_code == 404
    assert client.get("/v1/contacts/shared/timeline", headers=a).status_code == 404
    # A posting the same event id creates A's own event; B's stays untouched.
    mine = client.post("/v1/events", json=lead("evt-b", "shared", name="Otra Persona"), headers=a)
    assert mine.status_code == 202
    DBOS.retrieve_workflow(f"{env.tenant.slug}:evt-b").get_result()
    b_view = client.get("/v1/contacts/shared/timeline", headers=b).json()
    assert b_view["contact"]["name"] == "Ana Gómez"
    a_view = client.get("/v1/contacts/shared/timeline", headers=a).json()
    assert a_view["contact"]["name"] == "Otra Persona"
    assert {i["event"]["id"] for i in a_view["items"] if i["type"] == "event"} == {"evt-b"}
    assert len([i for i in b_view["items"] if i["type"] == "message"]) == 1


def test_scopes_are_enforced(two_tenants: tuple[TestClient, dict[str, str], dict[str, str], Env]) -> None:
    client, _a, _b, env = two_tenants
    with transaction(env.container.sessions) as session:
        reader = issue_key(session, env.tenant.id, "reader", ["read"], env.clock.now())
    response = client.post("/v1/events", json=lead("evt-r", "r"), headers={"Authorization": f"Bearer {reader.secret}"})
    assert response.status_code == 403
    assert "events:write" in response.json()["message"]


def test_revoked_key_is_refused(two_tenants: tuple[TestClient, dict[str, str], dict[str, str], Env]) -> None:
    client, a, _b, env = two_tenants
    assert client.get("/v1/events/none", headers=a).status_code == 404
    with transaction(env.container.sessions) as session:
        for key in ApiKeyRepository(session).for_tenant(env.tenant.id):
            key.revoked_at = env.clock.now()
    refused = client.get("/v1/events/none", headers=a)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_rate_limit_answers_429_with_retry_after(env: Env) -> None:
    env.container.settings.rate_limit_per_minute = 3
    env.container.settings.default_tenant = env.tenant.slug
    with TestClient(create_app(env.container.settings, container=env.container)) as client:
        auth = {"Authorization": "Bearer test-admin-key"}
        codes = [client.get("/v1/events/none", headers=auth).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = client.get("/v1/events/none", headers=auth)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


# Tenant B's playbook sends an unapproved promise to a person instead of the contact.
RISKY = (
    "Hola {{ first_name }}, en {{ business.name }} le garantizamos que su hijo hablará inglés fluido en 3 meses. "
    "Agende aquí: {{ business.booking_url }}\n{{ signature }}"
)
CLEAN = "Hola Ana, en Aurora Kids Academy la primera clase de prueba es gratis y dura 45 minutos. ¿La agendamos?"


def _review_claims(data: dict[str, Any]) -> None:
    data["guardrails"]["claims"]["on_unapproved"] = "review"


@dataclass
class Locations:
    """Two tenants, each with its own key (A's holds every scope it would need) and its own webhook secret."""

    client: TestClient
    env: Env
    a: TenantRef
    b: TenantRef
    key_a: dict[str, str]
    key_b: dict[str, str]
    secret_a: str
    secret_b: str


@pytest.fixture
def locations(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Locations]:
    names = {side: f"NC_TEST_HOOK_SECRET_{side}_{uuid.uuid4().hex[:8].upper()}" for side in "AB"}
    secrets = {side: f"whsec-{side.lower()}-{uuid.uuid4().hex}" for side in "AB"}
    for side in "AB":
        monkeypatch.setenv(names[side], secrets[side])
    playbook_b = custom_playbook(tmp_path / "pb-b", _review_claims, {"es/first_touch_warm.j2": RISKY})
    a = env.container.ensure_tenant(
        f"{env.tenant.slug}xa", "Location A", settings={"webhook_signing_secrets_env": [names["A"]]}
    )
    b = env.container.ensure_tenant(
        f"{env.tenant.slug}xb", "Location B", playbook_b, settings={"webhook_signing_secrets_env": [names["B"]]}
    )
    with transaction(env.container.sessions) as session:
        key_a = issue_key(session, a.id, "a", ["events:write", "read", "review"], env.clock.now())
        key_b = issue_key(session, b.id, "b", ["admin"], env.clock.now())
    with TestClient(create_app(env.container.settings, container=env.container)) as client:
        yield Locations(
            client,
            env,
            a,
            b,
            {"Authorization": f"Bearer {key_a.secret}"},
            {"Authorization": f"Bearer {key_b.secret}"},
            secrets["A"],
            secrets["B"],
        )


def _sent(env: Env) -> list[dict[str, Any]]:
    return [json.loads(line) for line in env.outbox.read_text().splitlines()] if env.outbox.exists() else []


def test_tenant_a_can_neither_read_nor_decide_tenant_b_review_items(locations: Locations) -> None:
    client, env, a_key, b_key = locations.client, locations.env, locations.key_a, locations.key_b
    # By email: an edited text is free-form, which WhatsApp refuses outside its 24-hour window.
    report = ingest(
        env.container, locations.b, [lead("evt-rb", "c-rb", phone=None, email="ana@example.com")], source="t"
    )
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    [item] = client.get("/v1/review", headers=b_key).json()["items"]
    assert item["status"] == "open"

    for status in ("open", "all"):
        assert client.get(f"/v1/review?status={status}", headers=a_key).json() == {"items": [], "counts": {}}
    assert client.get(f"/v1/review/{item['id']}", headers=a_key).status_code == 404
    approve = client.post(f"/v1/review/{item['id']}/approve", json={"text": CLEAN}, headers=a_key)
    assert approve.status_code == 404, approve.text
    reject = client.post(f"/v1/review/{item['id']}/reject", json={"reason": "not ours"}, headers=a_key)
    assert reject.status_code == 404, reject.text

    untouched = client.get(f"/v1/review/{item['id']}", headers=b_key).json()
    assert untouched["status"] == "open" and untouched["decided_by"] is None
    assert _sent(env) == []
    # B's own key decides it: the refusals above were about the tenant, not the request.
    approved = client.post(f"/v1/review/{item['id']}/approve", json={"text": CLEAN}, headers=b_key)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    wait_for_review_send(item["id"])
    assert [line["body"] for line in _sent(env)] == [CLEAN]


def test_tenant_a_cannot_read_tenant_b_outcomes(locations: Locations) -> None:
    client, env = locations.client, locations.env
    report = ingest(env.container, locations.b, [lead("evt-ob", "c-ob", phone=None, email="b@example.com")], source="t")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    [item] = client.get("/v1/review", headers=locations.key_b).json()["items"]
    assert client.post(f"/v1/review/{item['id']}/approve", json={"text": CLEAN}, headers=locations.key_b).is_success
    wait_for_review_send(item["id"])  # B has sent one message: its outcome tables have a row
    assert len(_sent(env)) == 1
    for by in ("template", "segment", "language", "channel", "plan"):
        b_rows = client.get(f"/v1/stats/outcomes?by={by}", headers=locations.key_b).json()["rows"]
        assert sum(r["sent"] for r in b_rows) == 1
        a_view = client.get(f"/v1/stats/outcomes?by={by}", headers=locations.key_a).json()
        assert a_view == {"by": by, "rows": []}


def test_tenant_b_hook_signed_with_tenant_a_secret_is_refused(locations: Locations) -> None:
    client, env = locations.client, locations.env
    body = json.dumps(lead("evt-hook", "c-hook")).encode()
    now = int(env.clock.now().timestamp())
    path_b = f"/v1/hooks/events/{locations.b.slug}"
    refused = client.post(path_b, content=body, headers=sign_generic(locations.secret_a, body, now))
    assert refused.status_code == 401, refused.text
    # Nothing was stored for either tenant.
    assert client.get("/v1/events/evt-hook", headers=locations.key_b).status_code == 404
    assert client.get("/v1/events/evt-hook", headers=locations.key_a).status_code == 404
    # A's secret works on A's hook only, and B's on B's: the refusal was about the secret.
    path_a = f"/v1/hooks/events/{locations.a.slug}"
    assert client.post(path_a, content=body, headers=sign_generic(locations.secret_b, body, now)).status_code == 401
    accepted = client.post(path_b, content=body, headers=sign_generic(locations.secret_b, body, now))
    assert accepted.status_code == 200, accepted.text
    DBOS.retrieve_workflow(f"{locations.b.slug}:evt-hook").get_result()
    assert client.get("/v1/events/evt-hook", headers=locations.key_b).json()["status"] == "done"
    assert client.get("/v1/events/evt-hook", headers=locations.key_a).status_code == 404
