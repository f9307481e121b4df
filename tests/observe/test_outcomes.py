"""Outcome attribution through the real workflows: each outcome belongs to the message sent before it, within the
playbook's window, and GET /v1/stats/outcomes counts them per template, variant, segment, language and path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import Env
from tests.support.events import lead, message, stage
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.bootstrap import TenantRef
from nightcrew.channels.models import Message
from nightcrew.crm.models import Contact
from nightcrew.db import transaction
from nightcrew.observe.models import Outcome
from nightcrew.observe.outcomes import wilson_interval, with_rates
from nightcrew.workflows.dispatch import ingest

AUTH = {"Authorization": "Bearer test-admin-key"}


def run(env: Env, tenant: TenantRef, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def at(env: Env) -> str:
    return env.clock.now().isoformat()


def sent_to(env: Env, tenant: TenantRef, external_id: str) -> list[dict[str, Any]]:
    """The messages sent to a contact, oldest first."""
    with transaction(env.container.sessions) as session:
        rows = session.scalars(
            select(Message)
            .join(Contact, Contact.id == Message.contact_id)
            .where(Message.tenant_id == tenant.id, Contact.external_id == external_id, Message.status == "sent")
            .order_by(Message.sent_at, Message.id)
        ).all()
        return [
            {"id": m.id, "purpose": m.purpose, "plan": m.plan, "template": m.template, "variant": m.variant}
            | {"segment": m.segment, "language": m.language, "path": m.path}
            for m in rows
        ]


def outcomes_of(env: Env, tenant: TenantRef, external_id: str) -> list[dict[str, Any]]:
    """A contact's outcomes in the order they happened."""
    with transaction(env.container.sessions) as session:
        rows = session.scalars(
            select(Outcome)
            .join(Contact, Contact.id == Outcome.contact_id)
            .where(Outcome.tenant_id == tenant.id, Contact.external_id == external_id)
            .order_by(Outcome.at, Outcome.id)
        ).all()
        return [
            {"kind": o.kind, "message_id": o.message_id, "plan": o.plan, "template": o.template}
            | {"variant": o.variant, "segment": o.segment, "language": o.language, "path": o.path}
            for o in rows
        ]


def attributed(kind: str, sent: dict[str, Any] | None) -> dict[str, Any]:
    """The outcome row expected when ``kind`` answers ``sent`` (or no message at all)."""
    keys = ("plan", "template", "variant", "segment", "language", "path")
    return {"kind": kind, "message_id": sent["id"] if sent else None} | {k: sent[k] if sent else None for k in keys}


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    env.container.settings.default_tenant = env.tenant.slug
    with TestClient(create_app(env.container.settings, container=env.container)) as test_client:
        yield test_client


def test_each_outcome_is_linked_to_the_message_sent_before_it(env: Env, client: TestClient) -> None:
    run(env, env.tenant, lead("o-lead", "att-1"))
    [first_touch] = sent_to(env, env.tenant, "att-1")
    assert first_touch["purpose"] == "outreach"

    env.clock.advance(timedelta(hours=1))
    run(env, env.tenant, stage("o-booked", "att-1", "trial_booked"))
    env.clock.advance(timedelta(hours=1))
    run(env, env.tenant, stage("o-cancelled", "att-1", "trial_cancelled"))
    env.clock.advance(timedelta(hours=1))
    [replied] = run(env, env.tenant, message("o-reply", "att-1", "a que horas son las clases?", occurred_at=at(env)))
    assert replied["status"] == "done", replied
    first, reply = sent_to(env, env.tenant, "att-1")
    assert first == first_touch and reply["purpose"] == "reply"

    env.clock.advance(timedelta(hours=1))
    [opted] = run(env, env.tenant, message("o-stop", "att-1", "BAJA", occurred_at=at(env)))
    assert opted["intent"] == "opt_out", opted

    # Booking, cancellation and the first reply answer the first touch; the opt-out (and the message that
    # carried it) answer our reply, the last message before them.
    assert outcomes_of(env, env.tenant, "att-1") == [
        attributed("booked", first_touch),
        attributed("cancelled", first_touch),
        attributed("replied", first_touch),
        attributed("replied", reply),
        attributed("opted_out", reply),
    ]

    by_template = client.get("/v1/stats/outcomes", params={"by": "template"}, headers=AUTH)
    assert by_template.status_code == 200, by_template.text
    body = by_template.json()
    assert body["by"] == "template"
    rows = {row["key"]: row for row in body["rows"]}
    first_row = rows[first_touch["template"]]
    assert (first_row["sent"], first_row["replied"], first_row["booked"], first_row["cancelled"]) == (1, 1, 1, 1)
    assert (first_row["opted_out"], first_row["won"]) == (0, 0)
    assert first_row["replied_rate"] == 1.0 and first_row["replied_ci95"] == [0.2065, 1.0]
    assert first_row["opted_out_rate"] == 0.0 and first_row["opted_out_ci95"] == [0.0, 0.7935]
    reply_row = rows[reply["template"]]
    assert (reply_row["sent"], reply_row["replied"], reply_row["opted_out"], reply_row["booked"]) == (1, 1, 1, 0)

    by_segment = {row["key"]: row for row in client.get("/v1/stats/outcomes?by=segment", headers=AUTH).json()["rows"]}
    segment_row = by_segment[str(first_touch["segment"])]
    assert segment_row["booked"] == 1 and segment_row["replied"] == 2 and segment_row["opted_out"] == 1
    by_language = client.get("/v1/stats/outcomes?by=language", headers=AUTH).json()["rows"]
    # First touch, reply, and the opt-out's one confirmation: all in Spanish.
    assert [(row["key"], row["sent"]) for row in by_language if row["key"] == "es"] == [("es", 3)]


def test_outcomes_api_needs_a_read_key_and_a_known_grouping(client: TestClient) -> None:
    assert client.get("/v1/stats/outcomes").status_code == 401
    assert client.get("/v1/stats/outcomes?by=phone", headers=AUTH).status_code == 422
    empty = client.get("/v1/stats/outcomes?by=variant", headers=AUTH)
    assert empty.status_code == 200 and empty.json() == {"by": "variant", "rows": []}


def test_an_outcome_after_the_playbooks_window_is_linked_to_no_message(env: Env, tmp_path: Path) -> None:
    def three_hours(data: dict[str, Any]) -> None:
        data["attribution"] = {"window_hours": 3}

    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}w", "Window Academy", custom_playbook(tmp_path / "pb", three_hours)
    )
    run(env, tenant, lead("w-lead-1", "win-1"))
    [touch_1] = sent_to(env, tenant, "win-1")
    env.clock.advance(timedelta(hours=2, minutes=59))
    run(env, tenant, message("w-reply-1", "win-1", "a que horas son las clases?", occurred_at=at(env)))
    assert outcomes_of(env, tenant, "win-1") == [attributed("replied", touch_1)]

    run(env, tenant, lead("w-lead-2", "win-2", phone="+573009876543"))
    assert len(sent_to(env, tenant, "win-2")) == 1
    env.clock.advance(timedelta(hours=3, minutes=1))
    run(env, tenant, message("w-reply-2", "win-2", "a que horas son las clases?", occurred_at=at(env)))
    # Past the window the reply answers nothing; our answer to it is a new message, which the booking an hour
    # later answers.
    _, answer = sent_to(env, tenant, "win-2")
    env.clock.advance(timedelta(hours=1))
    run(env, tenant, stage("w-booked-2", "win-2", "trial_booked"))
    assert outcomes_of(env, tenant, "win-2") == [attributed("replied", None), attributed("booked", answer)]


def test_rates_use_the_one_wilson_interval_and_know_nothing_without_trials() -> None:
    from nightcrew.dashboard.stats import rate
    from nightcrew.dashboard.stats import wilson_interval as dashboard_wilson

    assert dashboard_wilson is wilson_interval
    assert wilson_interval(0, 0) == (0.0, 1.0) and rate(0, 0).low == 0.0 and rate(0, 0).high == 1.0
    [row] = with_rates([{"key": "t", "sent": 0}])
    assert row["replied_rate"] == 0.0 and row["replied_ci95"] == [0.0, 1.0]
    # Counted since a date, a message sent before it can be answered after it: the interval stays defined.
    [late] = with_rates([{"key": "t", "sent": 1, "replied": 2}])
    assert late["replied"] == 2 and late["replied_ci95"] == [0.2065, 1.0]
