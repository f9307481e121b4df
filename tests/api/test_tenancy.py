"""Tenants: hashed keys with scopes, rate limits, and tenant A never reading or changing tenant B's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.api.app import create_app
from nightcrew.crm.keys import hash_key, issue_key
from nightcrew.crm.repository import ApiKeyRepository
from nightcrew.db import transaction


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
