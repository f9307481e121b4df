"""A message that waits (allowed hours, a model, a reviewer) must not go out after what made it stale.

A reply, a booking, a hand-off or an opt-out that arrives while an automated touch waits withdraws it; an opt-out
that lands between the guardrail check and the send still stops the send. FakeClock; SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dbos import DBOS
from sqlalchemy import select
from tests.conftest import Env
from tests.support.events import lead, message, stage

from nightcrew.channels.models import Message
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows.common import deliver
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep

MONDAY_23H_BOGOTA = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)


def run(env: Env, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, env.tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def sweep(env: Env) -> list[Any]:
    return run_sweep(env.container, tenant_id=env.tenant.id).wait()


def at(env: Env, when: datetime) -> str:
    env.clock.set(when)
    return when.isoformat()


def sent(env: Env, contact: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in env.outbox.read_text().splitlines()] if env.outbox.exists() else []
    return [line for line in lines if line["contact_external_id"] == contact]


def messages(env: Env, contact: str) -> list[Message]:
    with transaction(env.container.sessions) as session:
        row = ContactRepository(session, env.tenant.id).by_external_id(contact)
        assert row is not None
        found = session.scalars(select(Message).where(Message.contact_id == row.id).order_by(Message.id)).all()
        session.expunge_all()
        return list(found)


def actions(env: Env, contact: str, kind: str) -> list[dict[str, Any]]:
    with transaction(env.container.sessions) as session:
        items = AuditQueries().timeline(session, env.tenant.id, contact)["items"]
    return [i["action"] for i in items if i["type"] == "action" and i["action"]["kind"] == kind]


def test_a_reply_withdraws_the_first_message_still_waiting_for_allowed_hours(env: Env) -> None:
    at(env, MONDAY_23H_BOGOTA)
    [result] = run(env, lead("st1", "sc1"))
    assert result["status"] == "deferred"
    # 07:00 in Bogotá: the parent writes first. Our reply waits for 09:00 too; the stale greeting must not go.
    run(
        env,
        message(
            "st1-m",
            "sc1",
            "hola, cuánto cuesta el curso de programación?",
            occurred_at=at(env, datetime(2026, 3, 3, 12, 0, tzinfo=UTC)),
        ),
    )
    at(env, datetime(2026, 3, 3, 14, 1, tzinfo=UTC))  # 09:01 in Bogotá
    sweep(env)
    assert [m["purpose"] for m in sent(env, "sc1")] == ["reply"]
    outreach = next(m for m in messages(env, "sc1") if m.purpose == "outreach")
    assert outreach.status == "withdrawn" and outreach.sent_at is None
    [withdrawn] = actions(env, "sc1", "message.withdrawn")
    assert withdrawn["input"]["message_id"] == outreach.id and "the contact replied" in withdrawn["reason"]


def test_a_booking_withdraws_a_follow_up_waiting_for_allowed_hours(env: Env) -> None:
    run(env, lead("st2", "sc2"))  # Monday 10:00 in Bogotá: sent at once
    # The cold check falls due on Wednesday 10:00; the sweep first runs at 22:00, outside allowed hours.
    at(env, datetime(2026, 3, 5, 3, 0, tzinfo=UTC))
    [started] = sweep(env)
    assert started["reason"] == "no_response"
    followup = next(m for m in messages(env, "sc2") if m.purpose == "followup")
    assert followup.status == "deferred"
    run(env, stage("st2-s", "sc2", "trial_booked", occurred_at=at(env, datetime(2026, 3, 5, 11, 0, tzinfo=UTC))))
    at(env, datetime(2026, 3, 5, 15, 0, tzinfo=UTC))
    sweep(env)
    assert [m["purpose"] for m in sent(env, "sc2")] == ["outreach"]
    assert next(m for m in messages(env, "sc2") if m.purpose == "followup").status == "withdrawn"
    [withdrawn] = actions(env, "sc2", "message.withdrawn")
    assert "stage moved to trial_booked" in withdrawn["reason"]


def test_an_opt_out_between_the_check_and_the_send_stops_the_send(env: Env) -> None:
    at(env, MONDAY_23H_BOGOTA)
    run(env, lead("st3", "sc3"))
    [waiting] = messages(env, "sc3")
    # The release re-checked the message and marked it pending; then the opt-out committed before the send step.
    with transaction(env.container.sessions) as session:
        row = session.get(Message, waiting.id)
        contact = ContactRepository(session, env.tenant.id).get(waiting.contact_id)
        assert row is not None and contact is not None
        row.status, row.send_after = "pending", None
        contact.consent = "opted_out"
    result = deliver(env.tenant.id, waiting.id, None)
    assert result["status"] == "blocked"
    assert sent(env, "sc3") == []
    [after] = messages(env, "sc3")
    assert after.status == "blocked" and after.error == "the contact opted out"
    [blocked] = actions(env, "sc3", "message.blocked")
    assert "consent withdrawn after the guardrails passed" in blocked["reason"]


def test_stage_progress_postpones_the_cold_check(env: Env) -> None:
    run(env, lead("st4", "sc4"))
    env.clock.advance(timedelta(hours=24))
    [moved] = run(env, stage("st4-s", "sc4", "engaged", occurred_at=env.clock.now().isoformat()))
    assert moved["cold_check_due"] == (env.clock.now() + timedelta(hours=48)).isoformat()
    env.clock.advance(timedelta(hours=24))  # 48 h after our message, 24 h after the progress: not cold
    assert sweep(env) == []
    env.clock.advance(timedelta(hours=24))
    [started] = sweep(env)
    assert started["reason"] == "no_response"
