"""The lead workflow end to end on a real database (SQLite and PostgreSQL), with a FakeClock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead, message, stage
from tests.support.receiver import Receiver

from nightcrew.bootstrap import Container
from nightcrew.channels.router import TransportRouter
from nightcrew.channels.transports import WebhookTransport
from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows import runtime
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep


def run(env: Env, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, env.tenant, list(events), source="test")
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def sent_lines(env: Env) -> list[dict[str, Any]]:
    if not env.outbox.exists():
        return []
    return [json.loads(line) for line in env.outbox.read_text().splitlines()]


def timeline(env: Env, external_id: str) -> dict[str, Any]:
    with transaction(env.container.sessions) as session:
        return AuditQueries().timeline(session, env.tenant.id, external_id)


def test_new_lead_is_classified_composed_checked_sent_and_followed_up(env: Env) -> None:
    [result] = run(env, lead("evt-1", "c-1"))
    assert result["status"] == "done"
    [line] = sent_lines(env)
    assert line["idempotency_key"] == f"{env.tenant.slug}:evt-1:send"
    assert line["language"] == "es" and line["channel"] == "whatsapp"
    assert "Ana" in line["body"] and "programación" in line["body"]
    kinds = [i["action"]["kind"] for i in timeline(env, "c-1")["items"] if i["type"] == "action"]
    assert kinds == [
        "contact.upserted",
        "lead.classified",
        "plan.chosen",
        "message.composed",
        "guardrail.verdict",
        "message.sent",
        "followup.scheduled",
    ]
    actions = {i["action"]["kind"]: i["action"] for i in timeline(env, "c-1")["items"] if i["type"] == "action"}
    assert actions["lead.classified"]["output"]["segment"] == "warm"
    assert actions["lead.classified"]["model"] == "playbook-default"
    assert "default segment" in actions["lead.classified"]["reason"]
    assert all(a["trace_id"] for a in actions.values())
    [followup] = timeline(env, "c-1")["followups"]
    assert followup["status"] == "pending"
    assert datetime.fromisoformat(followup["due_at"]) == env.clock.now() + timedelta(hours=48)


def test_same_event_twice_runs_one_workflow_and_sends_once(env: Env) -> None:
    run(env, lead("evt-dup", "c-dup"))
    report = ingest(env.container, env.tenant, [lead("evt-dup", "c-dup")], source="test")
    assert report.accepted == [] and [d.key for d in report.duplicates] == ["evt-dup"]
    assert len(sent_lines(env)) == 1
    steps = DBOS.list_workflow_steps(f"{env.tenant.slug}:evt-dup")
    assert [s["function_name"] for s in steps].count("lead.classify") == 1


def test_twenty_leads_give_twenty_messages_with_stable_keys(env: Env) -> None:
    receiver = Receiver(fail_next=3).start()  # the first three attempts fail: retries must reuse the key
    env.container.transports = TransportRouter(WebhookTransport(receiver.url, timeout_s=5))
    try:
        results = run(env, *[lead(f"evt-{i}", f"c-{i}") for i in range(20)])
        assert [r["status"] for r in results] == ["done"] * 20
        acknowledged = receiver.acknowledged_keys()
        assert len(acknowledged) == 20 and set(acknowledged.values()) == {1}
        assert set(receiver.all_keys()) == set(acknowledged)  # retried attempts carried the same keys
        assert acknowledged.keys() == {f"{env.tenant.slug}:evt-{i}:send" for i in range(20)}
    finally:
        receiver.stop()


def test_lead_at_23h_local_is_deferred_then_sent_at_the_first_allowed_minute(env: Env) -> None:
    env.clock.set(datetime(2026, 3, 3, 4, 0, tzinfo=UTC))  # Monday 23:00 in Bogotá (UTC-5)
    [result] = run(env, lead("evt-late", "c-late", occurred_at="2026-03-03T04:00:00Z"))
    assert result["status"] == "deferred"
    assert result["until"] == "2026-03-03T14:00:00+00:00"  # Tuesday 09:00 Bogotá
    assert sent_lines(env) == []
    env.clock.set(datetime(2026, 3, 3, 13, 59, tzinfo=UTC))
    assert run_sweep(env.container, tenant_id=env.tenant.id).deliveries == 0
    env.clock.set(datetime(2026, 3, 3, 14, 0, tzinfo=UTC))
    sweep = run_sweep(env.container, tenant_id=env.tenant.id)
    assert sweep.deliveries == 1
    assert sweep.wait() == [{"status": "sent"}]
    [line] = sent_lines(env)
    assert line["idempotency_key"] == f"{env.tenant.slug}:evt-late:send"
    data = timeline(env, "c-late")
    [sent] = [i["message"] for i in data["items"] if i["type"] == "message"]
    assert sent["status"] == "sent" and sent["sent_at"] == "2026-03-03T14:00:00+00:00"
    with transaction(env.container.sessions) as session:
        event = AuditQueries().event_with_actions(session, env.tenant.id, "evt-late")
    assert event["status"] == "done"
    assert datetime.fromisoformat(data["followups"][0]["due_at"]) == datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


def test_reply_and_booking_stop_pending_followups(env: Env) -> None:
    run(env, lead("evt-a", "c-a"), lead("evt-b", "c-b"))
    run(
        env,
        message("evt-a-reply", "c-a", "hola, cuánto cuesta?"),
        stage("evt-b-booked", "c-b", "trial_booked"),
    )
    assert timeline(env, "c-a")["followups"][0]["status"] == "cancelled"
    assert timeline(env, "c-b")["followups"][0]["status"] == "cancelled"
    assert timeline(env, "c-b")["contact"]["stage"] == "trial_booked"


def test_unknown_stage_is_rejected_at_the_edge(env: Env) -> None:
    report = ingest(env.container, env.tenant, [stage("evt-s", "c-s", "limbo"), lead("evt-ok", "c-ok")], source="test")
    assert [a.key for a in report.accepted] == ["evt-ok"]
    assert report.rejected[0].index == 0 and report.rejected[0].errors[0]["field"] == "data.to"


def test_contact_without_address_is_blocked_not_lost(env: Env) -> None:
    [result] = run(env, lead("evt-na", "c-na", phone=None, location="Lima, Perú"))
    assert result["status"] == "done" and result["verdict"] == "block"
    assert sent_lines(env) == []


def test_queue_consumer_processes_enqueued_events(env: Env) -> None:
    """The API path: events go on the DBOS queue and this process's worker takes them."""
    report = ingest(env.container, env.tenant, [lead("evt-q", "c-q")], source="test")
    assert report.handles[0].get_result()["status"] == "done"
    assert runtime.is_launched()


def test_containers_are_isolated_by_tenant(env: Env) -> None:
    other = env.container.ensure_tenant(f"{env.tenant.slug}x", "Other")
    run(env, lead("evt-shared", "c-shared"))
    second = ingest(env.container, other, [lead("evt-shared", "c-shared")], source="test")
    assert [a.key for a in second.accepted] == ["evt-shared"]  # same id, different tenant: a new event
    assert DBOS.retrieve_workflow(second.accepted[0].workflow_id).get_result()["status"] == "done"
    assert isinstance(env.container, Container)
