"""The dashboard in Chromium: log in, read the overview charts, open a contact timeline, approve a review item."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import off_loop
from tests.conftest import Env
from tests.dashboard.conftest import ADMIN_KEY, process, review_playbook
from tests.support.events import lead

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def log_in(page: Page, base: str, key: str = ADMIN_KEY, path: str = "/dashboard") -> None:
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.fill("#api_key", key)
    page.click("form[action='/dashboard/login'] button[type=submit]")


def test_log_in_and_see_the_overview_charts(page: Page, live_server: str, env: Env) -> None:
    off_loop(
        process, env, env.tenant, lead("evt-1", "c-1", email="ana@example.com"), lead("evt-2", "c-2", name="Bruno")
    )
    log_in(page, live_server, "wrong-key")
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")
    page.fill("#api_key", ADMIN_KEY)
    page.click("form[action='/dashboard/login'] button[type=submit]")
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.locator("h1")).to_have_text("Overview")
    charts = page.locator("figure.chart-panel svg.chart")
    expect(charts).to_have_count(6)
    events = page.locator("figure.chart-panel", has_text="Events received")
    expect(events.locator("figcaption")).to_contain_text("2 total")
    expect(events.locator("rect.bar")).to_have_count(1)
    assert events.locator("rect.bar title").text_content() == "2026-03-02: 2"
    box = events.locator("rect.bar").bounding_box()
    assert box is not None and box["height"] > 20
    expect(page.locator("figure.chart-panel", has_text="Bookings").locator("svg")).to_contain_text(
        "nothing in this period"
    )


def test_open_a_contact_timeline(page: Page, live_server: str, env: Env) -> None:
    off_loop(
        process, env, env.tenant, lead("evt-1", "c-1", email="ana@example.com"), lead("evt-2", "c-2", name="Bruno Lima")
    )
    log_in(page, live_server)
    page.get_by_role("link", name="Contacts").click()
    expect(page.locator("#contacts tbody tr")).to_have_count(2)
    page.fill("#q", "bruno")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#contacts tbody tr")).to_have_count(1)
    page.get_by_role("link", name="c-2").click()
    expect(page).to_have_url(f"{live_server}/dashboard/contacts/c-2")
    expect(page.locator("h1")).to_contain_text("Bruno Lima")
    decision = page.locator("li.entry.action", has_text="lead.classified")
    expect(decision.locator(".reason")).not_to_be_empty()
    expect(decision.locator(".meta")).to_contain_text(re.compile(r"trace [0-9a-f]{32}"))
    decision.locator("summary").click()
    expect(decision.locator("pre")).to_contain_text('"output"')
    expect(page.locator("li.entry.message .badge")).to_have_text("sent")


def test_approve_a_review_item(page: Page, live_server: str, env: Env, tmp_path: Path) -> None:
    tenant = env.container.ensure_tenant(f"{env.tenant.slug}r", "Review Academy", review_playbook(tmp_path))
    env.container.settings.default_tenant = tenant.slug
    off_loop(process, env, tenant, lead("evt-r1", "c-r1", phone=None, email="ana@example.com"))
    log_in(page, live_server, path="/dashboard/review")
    expect(page).to_have_url(f"{live_server}/dashboard/review")
    item = page.locator("article.review")
    expect(item).to_have_count(1)
    expect(item.locator("pre.draft")).to_contain_text("garantizamos")
    # An edit that still promises results is refused, with the guardrail's reason on the page.
    item.locator("summary", has_text="Edit and approve").click()
    item.locator("textarea").fill("Hola Ana, le garantizamos que su hijo hablará inglés fluido en 3 meses.")
    item.get_by_role("button", name="Approve edited text").click()
    expect(page.locator("article.review [role=alert]")).to_contain_text("does not pass the guardrails")
    item = page.locator("article.review")
    # The refused text comes back in the open editor, to be fixed rather than typed again.
    expect(item.locator("textarea")).to_have_value(
        "Hola Ana, le garantizamos que su hijo hablará inglés fluido en 3 meses."
    )
    item.locator("textarea").fill(
        "Hola Ana, en Aurora Kids Academy la primera clase de prueba es gratis y dura 45 minutos. ¿La agendamos?"
    )
    item.get_by_role("button", name="Approve edited text").click()
    expect(page.locator(".flash")).to_contain_text("approved")
    expect(page.locator("article.review")).to_have_count(0)
    expect(page.get_by_text("Nothing is waiting for a person.")).to_be_visible()
