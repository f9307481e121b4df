"""Follow-up sequences chosen by why a lead went cold, on durable due-times and a FakeClock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead, message, stage
from tests.support.playbooks import custom_playbook

from nightcrew.bootstrap import Container
from nightcrew.channels.router import TransportRouter
from nightcrew.channels.transports import FileTransport
from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep


def run(env: Env, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, env.tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def sweep(env: Env) -> list[Any]:
    return run_sweep(env.container, tenant_id=env.tenant.id).wait()


def later(env: Env, hours: float) -> str:
    env.clock.advance(timedelta(hours=hours))
    return env.clock.now().isoformat()


def sent(env: Env, contact: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in env.outbox.read_text().splitlines()] if env.outbox.exists() else []
    return [line for line in lines if line["contact_external_id"] == contact]


def timeline(env: Env, contact: str) -> dict[str, Any]:
    with transaction(env.container.sessions) as session:
        return AuditQueries().timeline(session, env.tenant.id, contact)


def actions(env: Env, contact: str, kind: str) -> list[dict[str, Any]]:
    return [
        i["action"] for i in timeline(env, contact)["items"] if i["type"] == "action" and i["action"]["kind"] == kind
    ]


def test_silence_for_48h_starts_one_no_response_sequence(env: Env) -> None:
    run(env, lead("l1", "c1"))
    later(env, 47.9)
    assert sweep(env) == []  # not cold yet
    later(env, 0.1)
    [result] = sweep(env)
    assert result["reason"] == "no_response" and result["path"] == "gentle_nudge"
    assert result["message"]["status"] == "sent" or result["message"]["status"] == "pending"
    [started] = actions(env, "c1", "followup.started")
    assert started["output"]["reason"] == "no_response" and "48 h" in started["reason"]
    messages = sent(env, "c1")
    assert [m["purpose"] for m in messages] == ["outreach", "followup"]
    assert messages[1]["metadata"]["plan"] == "followup_nudge"
    assert sweep(env) == []  # started once
    followups = timeline(env, "c1")["followups"]
    assert len(followups) == 1 and followups[0]["path"] == "gentle_nudge"


def test_interest_without_booking_gets_the_objection_path(env: Env) -> None:
    run(env, lead("l2", "c2"))
    run(env, message("m2", "c2", "hola, cuánto cuesta el curso de programación?", occurred_at=later(env, 1)))
    later(env, 48)
    [result] = sweep(env)
    assert result["reason"] == "interested_not_booked" and result["path"] == "objection_then_link"
    [started] = actions(env, "c2", "followup.started")
    assert started["output"]["evidence"]["asked"] == ["pricing"]
    assert sent(env, "c2")[-1]["metadata"]["plan"] == "followup_objection"


def test_booked_then_cancelled_gets_a_reschedule_offer(env: Env) -> None:
    run(env, lead("l3", "c3"))
    run(env, stage("s3a", "c3", "trial_booked", occurred_at=later(env, 2)))
    run(env, stage("s3b", "c3", "trial_cancelled", occurred_at=later(env, 22)))
    later(env, 47.9)
    assert sweep(env) == []
    later(env, 0.1)
    [result] = sweep(env)
    assert result["reason"] == "booked_cancelled" and result["path"] == "reschedule_offer"
    [started] = actions(env, "c3", "followup.started")
    assert started["output"]["evidence"]["then"] == "trial_cancelled"
    assert sent(env, "c3")[-1]["metadata"]["plan"] == "followup_reschedule"


def test_reply_at_hour_50_stops_the_sequence_before_step_2(env: Env) -> None:
    run(env, lead("l4", "c4"))
    later(env, 48)
    sweep(env)
    assert [m["purpose"] for m in sent(env, "c4")] == ["outreach", "followup"]
    [replied] = run(env, message("m4", "c4", "perdón, no había visto! qué horarios tienen?", occurred_at=later(env, 2)))
    assert replied["intent"] == "schedule"
    later(env, 80)  # past step 2's due time (72 h after step 1) and past a new cold check after our answer
    sweep(env)
    plans = [m["metadata"]["plan"] for m in sent(env, "c4")]
    assert "followup_last_try" not in plans  # step 2 of the stopped sequence never went out
    received = actions(env, "c4", "inbound.received")[-1]
    assert "1 pending follow-up(s) stopped" in received["reason"]
    first, *rest = timeline(env, "c4")["followups"]
    assert first["status"] == "cancelled" and first["path"] == "gentle_nudge"
    # Silence after our answer is a new cold spell, now for the "interested, not booked" reason.
    assert [f["reason"] for f in rest] == ["interested_not_booked"]
    last = [i["message"] for i in timeline(env, "c4")["items"] if i["type"] == "message"][-1]
    assert last["plan"] == "followup_objection"  # written; it waits for allowed hours (Friday 20:00 local)


def test_a_person_taking_over_stops_the_sequence(env: Env) -> None:
    run(env, lead("l5", "c5"))
    later(env, 48)
    sweep(env)
    with transaction(env.container.sessions) as session:
        from nightcrew.crm.repository import ContactRepository

        contact = ContactRepository(session, env.tenant.id).by_external_id("c5")
        assert contact is not None
        contact.human_takeover = True
    later(env, 72)
    [result] = sweep(env)
    assert result == {"action": "stop", "cause": "human"}
    [stopped] = actions(env, "c5", "followup.stopped")
    assert stopped["output"]["cause"] == "human" and "person took over" in stopped["reason"]


def test_opted_out_contact_gets_nothing_even_with_a_follow_up_already_due(env: Env) -> None:
    run(env, lead("l6", "c6"))
    later(env, 49)  # the cold check is due now, not yet swept
    run(env, message("m6", "c6", "no me escriban más por favor", occurred_at=env.clock.now().isoformat()))
    sweep(env)
    later(env, 200)
    sweep(env)
    messages = sent(env, "c6")
    assert [m["purpose"] for m in messages] == ["outreach", "opt_out_confirmation"]


def test_restart_between_steps_resumes_without_repeating_a_step(env: Env) -> None:
    run(env, lead("l7", "c7"))
    later(env, 48)
    sweep(env)
    assert [m["metadata"]["plan"] for m in sent(env, "c7")] == ["first_touch_warm", "followup_nudge"]
    # The worker goes away between steps; a new process (new container, same database) takes over.
    runtime.shutdown()
    fresh = Container(env.container.settings, clock=env.clock, transports=TransportRouter(FileTransport(env.outbox)))
    runtime.launch(fresh, schedule_sweeps=False)
    env.container = fresh
    later(env, 72)
    [result] = run_sweep(fresh, tenant_id=env.tenant.id).wait()
    assert result["step_index"] == 1 and result["message"]["status"] == "pending"
    plans = [m["metadata"]["plan"] for m in sent(env, "c7")]
    assert plans == ["first_touch_warm", "followup_nudge", "followup_last_try"]
    assert timeline(env, "c7")["contact"]["stage"] == "nurture"  # the path's final step
    [completed] = actions(env, "c7", "followup.completed")
    assert "nurture" in completed["reason"]


def test_a_path_step_goes_out_on_the_channel_it_names(env: Env, tmp_path: Path) -> None:
    def email_nudge(data: dict[str, Any]) -> None:
        data["followup"]["paths"]["no_response"]["steps"][0]["channel"] = "email"

    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}ch", "Channel tenant", custom_playbook(tmp_path, email_nudge)
    )
    report = ingest(env.container, tenant, [lead("lch", "cch", email="ana@example.com")], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    later(env, 48)
    [result] = run_sweep(env.container, tenant_id=tenant.id).wait()
    assert result["reason"] == "no_response"
    lines = [json.loads(line) for line in env.outbox.read_text().splitlines()]
    mine = [(line["purpose"], line["channel"]) for line in lines if line["contact_external_id"] == "cch"]
    assert mine == [("outreach", "whatsapp"), ("followup", "email")]
