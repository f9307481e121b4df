"""Inbound messages in es/pt/en: language, intent, routing, acting on the pipeline, replying in their language."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead, message

from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.review.repository import ReviewRepository
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep


def run(env: Env, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, env.tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def sent(env: Env) -> list[dict[str, Any]]:
    return [json.loads(line) for line in env.outbox.read_text().splitlines()] if env.outbox.exists() else []


def timeline(env: Env, external_id: str) -> dict[str, Any]:
    with transaction(env.container.sessions) as session:
        return AuditQueries().timeline(session, env.tenant.id, external_id)


def actions(env: Env, external_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        i["action"]
        for i in timeline(env, external_id)["items"]
        if i["type"] == "action" and i["action"]["kind"] == kind
    ]


def now(env: Env) -> str:
    return env.clock.now().isoformat()


def test_pricing_question_in_portuguese_gets_a_portuguese_reply_with_the_local_price(env: Env) -> None:
    run(env, lead("l1", "br-1", name="Juliana Souza", phone="+5511987654321", location="São Paulo, Brasil"))
    env.clock.advance(timedelta(minutes=10))
    [result] = run(env, message("m1", "br-1", "oi, qto custa o curso de ingles pro meu filho?", occurred_at=now(env)))
    assert result["status"] == "done" and result["intent"] == "pricing", result
    assert result["team"] == "admissions-pt"
    reply = sent(env)[-1]
    assert reply["language"] == "pt" and reply["purpose"] == "reply"
    assert "R$ 299" in reply["body"] and "R$ 349" in reply["body"]
    [understood] = actions(env, "br-1", "inbound.understood")
    assert understood["output"]["language"] == "pt" and understood["output"]["intent"] == "pricing"
    assert understood["confidence"] >= 0.45 and understood["model"] == "intent-bundled"
    [routed] = actions(env, "br-1", "inbound.routed")
    assert "rule" in routed["reason"] and routed["output"]["team"] == "admissions-pt"
    assert timeline(env, "br-1")["followups"][-1]["status"] == "pending"  # our reply restarts the cold clock


def test_booking_moves_the_stage_and_replies_in_spanish(env: Env) -> None:
    run(env, lead("l2", "mx-1", phone="+525512345678", location="Ciudad de México, México"))
    env.clock.advance(timedelta(minutes=5))
    [result] = run(env, message("m2", "mx-1", "quiero agendar la clase de prueba para el sabado", occurred_at=now(env)))
    assert result["intent"] == "booking", result
    data = timeline(env, "mx-1")
    assert result["reply"]["status"] == "pending", result["reply"]["reason"]
    assert data["contact"]["stage"] == "trial_booked"
    assert sent(env)[-1]["language"] == "es" and "clase de prueba" in sent(env)[-1]["body"]


def test_unknown_language_is_learned_from_the_first_message(env: Env) -> None:
    run(env, lead("l3", "us-1", name="Jennifer Smith", phone="+13055551234", location="Miami, United States"))
    env.clock.advance(timedelta(minutes=5))
    run(env, message("m3", "us-1", "Hi! what days and times are the classes on?", occurred_at=now(env)))
    data = timeline(env, "us-1")
    assert data["contact"]["language"] == "en"
    assert sent(env)[-1]["language"] == "en"


def test_complaint_reaches_a_person_and_stops_automation(env: Env) -> None:
    run(env, lead("l4", "co-1"))
    env.clock.advance(timedelta(minutes=5))
    [result] = run(
        env, message("m4", "co-1", "pésimo servicio, el profe no se conectó y nadie me avisó!!", occurred_at=now(env))
    )
    assert result["intent"] == "complaint" and result["handoff"] is True and result["team"] == "support"
    with transaction(env.container.sessions) as session:
        items = ReviewRepository(session, env.tenant.id).list("open", limit=10, offset=0)
        [handoff] = [i for i in items if i.kind == "handoff"]
        assert handoff.context["intent"] == "complaint" and "pésimo" in handoff.context["inbound_text"]
    assert "lamentamos" in sent(env)[-1]["body"]
    assert timeline(env, "co-1")["followups"][0]["status"] == "cancelled"


def test_opt_out_is_honoured_at_once_and_nothing_is_sent_afterwards(env: Env) -> None:
    run(env, lead("l5", "opt-1"))
    assert len(sent(env)) == 1
    env.clock.advance(timedelta(minutes=5))
    [result] = run(env, message("m5", "opt-1", "BAJA", occurred_at=now(env)))
    assert result.get("intent") == "opt_out", result
    data = timeline(env, "opt-1")
    assert data["contact"]["consent"] == "opted_out"
    confirmation = sent(env)[-1]
    assert confirmation["purpose"] == "opt_out_confirmation" and "no te enviaremos" in confirmation["body"].lower()
    assert len(sent(env)) == 2
    assert [f["status"] for f in data["followups"]] == ["cancelled"]
    # The CRM re-sends the lead and the contact writes again: nothing more leaves.
    env.clock.advance(timedelta(hours=1))
    run(env, lead("l5-again", "opt-1"), message("m5-again", "opt-1", "cuanto cuesta?", occurred_at=now(env)))
    assert len(sent(env)) == 2
    blocked = [i["message"] for i in timeline(env, "opt-1")["items"] if i["type"] == "message"]
    assert [m["status"] for m in blocked].count("sent") == 2


def test_message_waiting_for_hours_is_not_sent_after_an_opt_out(env: Env) -> None:
    env.clock.set(datetime(2026, 3, 3, 4, 0, tzinfo=UTC))  # 23:00 in Bogotá: the first message waits
    [first] = run(env, lead("l6", "opt-2", occurred_at="2026-03-03T04:00:00Z"))
    assert first["status"] == "deferred"
    env.clock.advance(timedelta(minutes=5))
    run(env, message("m6", "opt-2", "STOP", occurred_at=now(env)))
    env.clock.set(datetime(2026, 3, 3, 14, 0, tzinfo=UTC))
    sweep = run_sweep(env.container, tenant_id=env.tenant.id)
    sweep.wait()
    bodies = [m["body"] for m in sent(env)]
    assert len(bodies) == 1 and "no te enviaremos" in bodies[0].lower()  # only the confirmation


def test_unclear_message_goes_to_a_person_with_a_holding_reply(env: Env) -> None:
    run(env, lead("l7", "co-7"))
    env.clock.advance(timedelta(minutes=5))
    [result] = run(env, message("m7", "co-7", "jajaja ok 👍", occurred_at=now(env)))
    assert result["handoff"] is True
    with transaction(env.container.sessions) as session:
        kinds = [i.kind for i in ReviewRepository(session, env.tenant.id).list("open", limit=10, offset=0)]
    assert "handoff" in kinds


def test_a_no_thanks_is_not_held_as_a_possible_opt_out(env: Env) -> None:
    run(env, lead("pn-1", "pnc-1"))
    [declined] = run(env, message("pn-1m", "pnc-1", "prefiero no, gracias"))
    assert declined["intent"] == "not_interested"
    [routed] = actions(env, "pnc-1", "inbound.routed")
    assert routed["output"]["uncertain_opt_out"] is False and routed["output"]["handoff"] is False
    assert "may be an opt-out" not in routed["reason"]


def test_a_real_chance_of_an_opt_out_waits_for_a_person_to_confirm(env: Env) -> None:
    run(env, lead("pn-2", "pnc-2"))
    run(env, message("pn-2m", "pnc-2", "no quiero mas"))  # not_interested ~0.53, opt_out ~0.47
    [routed] = actions(env, "pnc-2", "inbound.routed")
    assert routed["output"]["uncertain_opt_out"] is True and routed["output"]["handoff"] is True
    assert "may be an opt-out: a person confirms" in routed["reason"]
