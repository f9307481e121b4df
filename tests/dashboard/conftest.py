"""Fixtures for the dashboard tests: a client, a logged-in session, leads processed through the real workflows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.bootstrap import TenantRef
from nightcrew.workflows.dispatch import ingest

ADMIN_KEY = "test-admin-key"
# A first-touch template that promises results: the claims check sends every draft to review.
RISKY = (
    "Hola {{ first_name }}, en {{ business.name }} le garantizamos que su hijo hablará inglés fluido en 3 meses. "
    "Agende aquí: {{ business.booking_url }}\n{{ signature }}"
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a rendered form carries."""
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, key: str = ADMIN_KEY) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    response = client.post(
        "/dashboard/login",
        data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/dashboard"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/dashboard/review")
    assert page.status_code == 200
    return csrf_of(page.text)


def process(env: Env, tenant: TenantRef, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Run events through their workflows one after another and return the workflows' results."""
    results: list[dict[str, Any]] = []
    for event in events:
        report = ingest(env.container, tenant, [event], source="test")
        assert report.accepted, report.to_dict()
        results.append(DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result())
    return results


def review_playbook(tmp_path: Path) -> Path:
    """The sample playbook with unapproved claims sent to review and a first touch that makes one."""

    def edit(data: dict[str, Any]) -> None:
        data["guardrails"]["claims"]["on_unapproved"] = "review"

    return custom_playbook(tmp_path / "pb", edit, {"es/first_touch_warm.j2": RISKY})


@pytest.fixture
def review_tenant(env: Env, tmp_path: Path) -> TenantRef:
    """A second tenant whose first-touch drafts all wait for review."""
    return env.container.ensure_tenant(f"{env.tenant.slug}r", "Review Academy", review_playbook(tmp_path))


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    """The whole app over the test's container; the admin key logs into the test's tenant."""
    env.container.settings.default_tenant = env.tenant.slug
    with TestClient(create_app(env.container.settings, container=env.container)) as test_client:
        yield test_client
