"""The dashboard over HTTP: login, every page after real workflows ran, review decisions, CSRF, tenant isolation."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.dashboard.conftest import ADMIN_KEY, csrf_of, login, process
from tests.support.events import lead, message, stage

from nightcrew.bootstrap import TenantRef
from nightcrew.crm.keys import issue_key
from nightcrew.crm.models import Contact
from nightcrew.crm.repository import ApiKeyRepository, ContactRepository
from nightcrew.dashboard.auth import COOKIE_NAME
from nightcrew.db import transaction
from nightcrew.observe.repository import StatsRepository
from nightcrew.review.repository import ReviewRepository
from nightcrew.workflows.review import wait_for_review_send

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def chart_total(html: str, title: str) -> str:
    match = re.search(rf"<strong>{re.escape(title)}</strong> <span class=\"muted\">([^<]+) total</span>", html)
    assert match, f"no chart titled {title!r}"
    return match.group(1)


def sent_messages(env: Env) -> int:
    with transaction(env.container.sessions) as session:
        return StatsRepository(session, env.tenant.id).messages_by_status().get("sent", 0)


def open_items(env: Env, tenant: TenantRef) -> list[int]:
    with transaction(env.container.sessions) as session:
        return [i.id for i in ReviewRepository(session, tenant.id).list("open", limit=100, offset=0)]


def item_status(env: Env, tenant: TenantRef, item_id: int) -> str:
    with transaction(env.container.sessions) as session:
        item = ReviewRepository(session, tenant.id).get(item_id)
        assert item is not None
        return item.status


@sqlite_only
def test_pages_need_a_login_and_a_wrong_key_is_refused(client: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/contacts?q=x", "/dashboard/review", "/dashboard/models"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login")
    form = client.get("/dashboard/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    refused = client.post(
        "/dashboard/login",
        data={"api_key": "not-the-key", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 401
    assert "That API key is not valid." in refused.text
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


@sqlite_only
def test_right_key_sets_a_signed_httponly_strict_cookie(client: TestClient) -> None:
    form = client.get("/dashboard/login?next=/dashboard/review")
    response = client.post(
        "/dashboard/login",
        data={"api_key": ADMIN_KEY, "csrf_token": csrf_of(form.text), "next": "/dashboard/review"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/review"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert ADMIN_KEY not in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Overview" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # A tampered cookie is no session at all.
    value = client.cookies.get(COOKIE_NAME, path="/dashboard")
    assert value is not None
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.cookies.clear()
    assert client.get("/dashboard", headers={"Cookie": f"{COOKIE_NAME}={value}"}).status_code == 200
    assert (
        client.get("/dashboard", headers={"Cookie": f"{COOKIE_NAME}={tampered}"}, follow_redirects=False).status_code
        == 303
    )


@sqlite_only
@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("https://evil.example/x", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/dashboardevil", "/dashboard"),
        ("/dashboard/contacts?q=ana", "/dashboard/contacts?q=ana"),
    ],
)
def test_login_never_redirects_off_the_dashboard(client: TestClient, asked: str, went: str) -> None:
    form = client.get("/dashboard/login")
    response = client.post(
        "/dashboard/login",
        data={"api_key": ADMIN_KEY, "csrf_token": csrf_of(form.text), "next": asked},
        follow_redirects=False,
    )
    assert response.headers["location"] == went


@sqlite_only
def test_posts_without_the_csrf_token_are_403(client: TestClient, env: Env, review_tenant: TenantRef) -> None:
    form = client.get("/dashboard/login")
    no_token = client.post("/dashboard/login", data={"api_key": ADMIN_KEY}, follow_redirects=False)
    assert no_token.status_code == 403
    wrong = client.post("/dashboard/login", data={"api_key": ADMIN_KEY, "csrf_token": "x" + csrf_of(form.text)})
    assert wrong.status_code == 403
    env.container.settings.default_tenant = review_tenant.slug
    token = login(client)
    process(env, review_tenant, lead("evt-c1", "c-c1"))
    [item_id] = open_items(env, review_tenant)
    assert client.post(f"/dashboard/review/{item_id}/approve", data={}).status_code == 403
    forged = client.post(f"/dashboard/review/{item_id}/reject", data={"reason": "x", "csrf_token": "forged"})
    assert forged.status_code == 403 and "security token" in forged.text
    assert item_status(env, review_tenant, item_id) == "open"
    assert client.post("/dashboard/logout", data={}).status_code == 403
    out = client.post("/dashboard/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


@sqlite_only  # the aggregate SQL runs on PostgreSQL in test_dashboard_repository; this one is slow (inbound model)
def test_every_page_shows_a_processed_lead(client: TestClient, env: Env) -> None:
    process(
        env,
        env.tenant,
        lead("evt-1", "c-1", email="ana@example.com"),
        message("evt-2", "c-1", "Hola, ¿qué horarios tienen?"),
        stage("evt-3", "c-1", "trial_booked"),
    )
    login(client)
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    assert chart_total(overview.text, "Events received") == "3"
    # The inbound question gets an answer: two messages went out.
    assert chart_total(overview.text, "Messages sent") == str(sent_messages(env))
    assert chart_total(overview.text, "Inbound replies") == "1"
    assert chart_total(overview.text, "Bookings") == "1"
    assert chart_total(overview.text, "Guardrail blocks") == "0"
    assert overview.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 6
    assert '<rect class="bar"' in overview.text and "2026-03-02: 3" in overview.text
    # Today is read live on every visit; once the day is over it is kept and still counted.
    process(env, env.tenant, lead("evt-4", "c-2"))
    assert chart_total(client.get("/dashboard").text, "Events received") == "4"
    env.clock.advance(timedelta(days=1, hours=1))
    process(env, env.tenant, lead("evt-5", "c-3"))
    login(client)  # the session ended: it lasts 12 hours
    next_day = client.get("/dashboard").text
    assert chart_total(next_day, "Events received") == "5"
    assert "2026-03-02: 4" in next_day and "2026-03-03: 1" in next_day
    assert chart_total(client.get("/dashboard").text, "Events received") == "5"

    contacts = client.get("/dashboard/contacts")
    assert 'href="/dashboard/contacts/c-1"' in contacts.text and "trial_booked" in contacts.text
    assert "Showing 1–3 of 3" in contacts.text

    timeline = client.get("/dashboard/contacts/c-1")
    assert timeline.status_code == 200
    for expected in ("lead.classified", "guardrail.verdict", "message.sent", "inbound.received", "stage.changed"):
        assert expected in timeline.text
    assert "new → trial_booked" in timeline.text
    assert re.search(r"trace <code>[0-9a-f]{32}</code>", timeline.text)
    assert re.search(r"confidence [01]\.\d\d", timeline.text)
    assert 'class="badge sent">sent<' in timeline.text

    assert "Nothing is waiting for a person." in client.get("/dashboard/review").text
    assert "No trained models are registered" in client.get("/dashboard/models").text
    outcomes = client.get("/dashboard/outcomes").text
    # The reply and the booking are attributed to the first message before them (the warm first touch).
    assert "first_touch_warm" in outcomes and "reply_schedule" in outcomes
    missing = client.get("/dashboard/contacts/nobody")
    assert missing.status_code == 404 and "nobody" in missing.text


@sqlite_only
def test_contacts_are_paginated_and_searchable(client: TestClient, env: Env) -> None:
    now = env.clock.now()
    with transaction(env.container.sessions) as session:
        repo = ContactRepository(session, env.tenant.id)
        for i in range(120):
            repo.insert(
                Contact(
                    external_id=f"p-{i:03d}",
                    name=f"Parent {i:03d}",
                    email=f"parent{i:03d}@example.com",
                    stage="new",
                    fields={},
                    created_at=now,
                    updated_at=now + timedelta(seconds=i),
                )
            )
    login(client)
    first = client.get("/dashboard/contacts")
    assert first.text.count('href="/dashboard/contacts/p-') == 50
    assert "p-119" in first.text and "p-069" not in first.text and 'rel="next"' in first.text
    last = client.get("/dashboard/contacts?page=3")
    assert last.text.count('href="/dashboard/contacts/p-') == 20
    assert "p-000" in last.text and 'rel="next"' not in last.text and 'rel="prev"' in last.text
    assert "Showing 101–120 of 120" in last.text
    by_name = client.get("/dashboard/contacts", params={"q": "parent 042"})
    assert by_name.text.count('href="/dashboard/contacts/p-') == 1 and "p-042" in by_name.text
    by_email = client.get("/dashboard/contacts", params={"q": "PARENT10"})
    assert by_email.text.count('href="/dashboard/contacts/p-') == 10
    assert "No contact matches" in client.get("/dashboard/contacts", params={"q": "zzz"}).text


def test_review_approve_through_the_page_sends_once(client: TestClient, env: Env, review_tenant: TenantRef) -> None:
    env.container.settings.default_tenant = review_tenant.slug
    process(env, review_tenant, lead("evt-a1", "c-a1", phone=None, email="ana@example.com"))
    token = login(client)
    page = client.get("/dashboard/review")
    [item_id] = open_items(env, review_tenant)
    assert f'id="item-{item_id}"' in page.text and "garantizamos" in page.text and "claims:" in page.text
    # An edited text is checked on its own: with the promise still in it, the guardrails refuse it again.
    still_promising = "Hola Ana, le garantizamos que su hijo hablará inglés fluido en 3 meses. ¿La agendamos?"
    refused = client.post(f"/dashboard/review/{item_id}/approve", data={"csrf_token": token, "text": still_promising})
    assert refused.status_code == 422 and "the text does not pass the guardrails (review)" in refused.text
    clean = "Hola Ana, en Aurora Kids Academy la primera clase de prueba es gratis y dura 45 minutos. ¿La agendamos?"
    response = client.post(
        f"/dashboard/review/{item_id}/approve",
        data={"csrf_token": token, "text": clean, "note": "removed the promise"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "done=approved" in response.headers["location"]
    after = client.get(response.headers["location"])
    assert f"Item #{item_id} approved. Its message is on its way." in after.text
    assert f'id="item-{item_id}"' not in after.text
    wait_for_review_send(item_id)
    assert item_status(env, review_tenant, item_id) == "approved"
    [sent] = [json.loads(line) for line in env.outbox.read_text().splitlines()]
    assert sent["body"] == clean
    again = client.post(f"/dashboard/review/{item_id}/approve", data={"csrf_token": token})
    assert again.status_code == 409 and "already approved" in again.text


@sqlite_only
def test_refused_edit_shows_the_guardrail_reason_and_keeps_the_text(
    client: TestClient, env: Env, review_tenant: TenantRef
) -> None:
    env.container.settings.default_tenant = review_tenant.slug
    process(env, review_tenant, lead("evt-e1", "c-e1", phone=None, email="ana@example.com"))
    token = login(client)
    [item_id] = open_items(env, review_tenant)
    edited = "Hola Ana, le damos 50% de descuento si se inscribe hoy."
    refused = client.post(
        f"/dashboard/review/{item_id}/approve", data={"csrf_token": token, "text": edited, "note": "try"}
    )
    assert refused.status_code == 422
    assert "the text does not pass the guardrails" in refused.text
    assert re.search(r"<li>claims: [^<]+</li>", refused.text)
    assert f">{edited}</textarea>" in refused.text
    assert item_status(env, review_tenant, item_id) == "open"


@sqlite_only
def test_reject_needs_a_reason_and_sends_nothing(client: TestClient, env: Env, review_tenant: TenantRef) -> None:
    env.container.settings.default_tenant = review_tenant.slug
    process(env, review_tenant, lead("evt-j1", "c-j1"))
    token = login(client)
    [item_id] = open_items(env, review_tenant)
    empty = client.post(f"/dashboard/review/{item_id}/reject", data={"csrf_token": token, "reason": "  "})
    assert empty.status_code == 422 and "a rejection needs a reason" in empty.text
    done = client.post(
        f"/dashboard/review/{item_id}/reject",
        data={"csrf_token": token, "reason": "promises results"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "done=rejected" in done.headers["location"]
    assert item_status(env, review_tenant, item_id) == "rejected"
    assert not env.outbox.exists() or env.outbox.read_text() == ""


def test_a_tenant_session_never_shows_another_tenants_data(
    client: TestClient, env: Env, review_tenant: TenantRef
) -> None:
    # B (the review tenant) has a contact, events and an open review item; A has nothing.
    process(env, review_tenant, lead("evt-b1", "c-b1", name="Beatriz Otra"))
    [b_item] = open_items(env, review_tenant)
    with transaction(env.container.sessions) as session:
        a_key = issue_key(session, env.tenant.id, "a-ops", ["read", "review"], env.clock.now())
    token = login(client, a_key.secret)
    overview = client.get("/dashboard")
    assert chart_total(overview.text, "Events received") == "0"
    assert "No events received in this period." in overview.text and "Beatriz" not in overview.text
    assert chart_total(overview.text, "Inbound replies") == "0"
    contacts = client.get("/dashboard/contacts")
    assert "c-b1" not in contacts.text and "No contacts yet." in contacts.text
    assert "c-b1" not in client.get("/dashboard/contacts", params={"q": "Beatriz"}).text
    assert client.get("/dashboard/contacts/c-b1").status_code == 404
    review = client.get("/dashboard/review")
    assert "garantizamos" not in review.text and f'id="item-{b_item}"' not in review.text
    assert client.post(f"/dashboard/review/{b_item}/approve", data={"csrf_token": token}).status_code == 404
    assert (
        client.post(f"/dashboard/review/{b_item}/reject", data={"csrf_token": token, "reason": "not mine"}).status_code
        == 404
    )
    assert item_status(env, review_tenant, b_item) == "open"
    # The same browser logged in with B's key sees B's data.
    with transaction(env.container.sessions) as session:
        b_key = issue_key(session, review_tenant.id, "b-ops", ["read"], env.clock.now())
    client.cookies.clear()
    login(client, b_key.secret)
    assert "c-b1" in client.get("/dashboard/contacts").text
    assert "Review Academy" in client.get("/dashboard").text


@sqlite_only
def test_read_only_revoked_and_expired_sessions(client: TestClient, env: Env, review_tenant: TenantRef) -> None:
    process(env, review_tenant, lead("evt-k1", "c-k1"))
    [item_id] = open_items(env, review_tenant)
    with transaction(env.container.sessions) as session:
        reader = issue_key(session, review_tenant.id, "reader", ["read"], env.clock.now())
        writer = issue_key(session, review_tenant.id, "writer", ["events:write"], env.clock.now())
    form = client.get("/dashboard/login")
    no_read = client.post("/dashboard/login", data={"api_key": writer.secret, "csrf_token": csrf_of(form.text)})
    assert no_read.status_code == 403 and "lacks the 'read' scope" in html.unescape(no_read.text)
    token = login(client, reader.secret)
    page = client.get("/dashboard/review")
    assert "may look but not decide" in page.text and 'class="approve"' not in page.text
    assert client.post(f"/dashboard/review/{item_id}/approve", data={"csrf_token": token}).status_code == 403
    assert item_status(env, review_tenant, item_id) == "open"
    # Revoking the key ends its dashboard sessions at once.
    with transaction(env.container.sessions) as session:
        row = ApiKeyRepository(session).get(reader.id)
        assert row is not None
        row.revoked_at = env.clock.now()
    assert client.get("/dashboard/review", follow_redirects=False).status_code == 303
    # A session lives 12 hours on the container's clock.
    client.cookies.clear()
    env.container.settings.default_tenant = review_tenant.slug
    login(client)
    env.clock.advance(timedelta(hours=11))
    assert client.get("/dashboard/review", follow_redirects=False).status_code == 200
    env.clock.advance(timedelta(hours=2))
    assert client.get("/dashboard/review", follow_redirects=False).status_code == 303
