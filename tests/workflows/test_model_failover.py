"""The capable tier over a real OpenAI-wire server: outage, queue, drain, exactly once; invented offers never sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.support.events import lead
from tests.support.playbooks import custom_playbook
from tests.support.receiver import Receiver

from nightcrew.bootstrap import TenantRef
from nightcrew.channels.router import TransportRouter
from nightcrew.channels.transports import WebhookTransport
from nightcrew.db import transaction
from nightcrew.observe.repository import StatsRepository
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep


def draft(text: str, language: str = "es") -> str:
    return json.dumps({"text": text, "language": language, "claims_used": []})


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(responder=lambda request: draft("Hola, gracias por escribir. Clases en vivo para niños."))
    server.start()
    yield server
    server.stop()


def _tenant(
    env: Env,
    tmp_path: Path,
    server: FakeLLMServer,
    allow_fallback: bool,
    budgets: dict[str, Any] | None = None,
    *,
    local_last: bool = False,
    rate_per_s: float | None = None,
) -> TenantRef:
    def edit(data: dict[str, Any]) -> None:
        if budgets is not None:
            data["routing"]["budgets"] = budgets
        data["channels"]["preference"] = ["sms", "email"]  # free text is allowed on SMS
        data["routing"]["tiers"]["capable"] = [
            {
                "provider": "openai",
                "name": "fake",
                "base_url": server.openai_base_url,
                "model": "gpt-test",
                "input_per_mtok": 0.15,
                "output_per_mtok": 0.6,
                "timeout_s": 2,
                "max_retries": 0,
            }
        ]
        if rate_per_s is not None:
            data["routing"]["tiers"]["capable"][0]["rate_per_s"] = rate_per_s
        if local_last:
            data["routing"]["tiers"]["capable"].append({"provider": "local"})
        data["routing"]["tasks"]["compose_outreach"] = {"tier": "capable", "allow_template_fallback": allow_fallback}
        data["routing"]["breaker"] = {"failure_threshold": 3, "cooldown_s": 60}

    path = custom_playbook(tmp_path / f"pb-{server.port}", edit)
    return env.container.ensure_tenant(f"{env.tenant.slug}m{server.port}", "Model tenant", path)


def test_outage_queues_50_leads_and_drains_each_exactly_once(env: Env, tmp_path: Path, llm: FakeLLMServer) -> None:
    tenant = _tenant(env, tmp_path, llm, allow_fallback=False)
    receiver = Receiver().start()
    env.container.transports = TransportRouter(WebhookTransport(receiver.url, timeout_s=5))
    try:
        llm.set_outage(True)
        report = ingest(env.container, tenant, [lead(f"o-{i}", f"oc-{i}") for i in range(50)], source="test")
        results = [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]
        assert {r["status"] for r in results} == {"deferred"}  # waiting for the model, durably
        assert receiver.all_keys() == {}  # nothing sent in a tier the playbook did not allow
        # The breaker opened after 3 failures (plus calls in flight on the other workers): the rest never called.
        assert llm.count() <= 3 + env.container.settings.worker_concurrency
        with transaction(env.container.sessions) as session:
            assert StatsRepository(session, tenant.id).model_waits() == {"awaiting_model": 50}
        # Still down at the retry time: the probe fails, the work stays queued.
        env.clock.advance(timedelta(seconds=61))
        run_sweep(env.container, tenant_id=tenant.id).wait()
        assert receiver.all_keys() == {}
        # The provider comes back; the next probe succeeds and the queue drains.
        llm.set_outage(False)
        for _ in range(6):  # calls that met the half-open breaker while the probe was in flight wait once more
            env.clock.advance(timedelta(seconds=61))
            run_sweep(env.container, tenant_id=tenant.id).wait()
        keys = receiver.acknowledged_keys()
        assert len(keys) == 50 and set(keys.values()) == {1}
        assert set(keys) == {f"{tenant.slug}:o-{i}:send" for i in range(50)}
        with transaction(env.container.sessions) as session:
            assert StatsRepository(session, tenant.id).model_waits() == {"sent": 50}
        bodies = {r.body["body"] for r in receiver.requests}
        assert bodies == {"Hola, gracias por escribir. Clases en vivo para niños."}  # the model's draft, not a template
    finally:
        receiver.stop()


def test_local_last_in_the_tier_is_not_used_when_the_task_forbids_templates(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    tenant = _tenant(env, tmp_path, llm, allow_fallback=False, local_last=True)
    receiver = Receiver().start()
    env.container.transports = TransportRouter(WebhookTransport(receiver.url, timeout_s=5))
    try:
        llm.set_outage(True)
        report = ingest(env.container, tenant, [lead(f"l-{i}", f"lc-{i}") for i in range(5)], source="test")
        results = [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]
        assert {r["status"] for r in results} == {"deferred"}
        assert receiver.all_keys() == {}  # the {provider: local} entry is a template fallback: not allowed here
        with transaction(env.container.sessions) as session:
            assert StatsRepository(session, tenant.id).model_waits() == {"awaiting_model": 5}
            from nightcrew.observe.repository import ActionRepository

            waits = ActionRepository(session, tenant.id).outputs_of_kind("message.awaiting_model")
        assert waits and all("template fallback in tier capable is not allowed" in r for _, r in waits)
        env.clock.advance(timedelta(seconds=61))
        run_sweep(env.container, tenant_id=tenant.id).wait()
        assert receiver.all_keys() == {}  # still down: still waiting, still nothing sent
        llm.set_outage(False)
        for _ in range(6):
            env.clock.advance(timedelta(seconds=61))
            run_sweep(env.container, tenant_id=tenant.id).wait()
        keys = receiver.acknowledged_keys()
        assert set(keys) == {f"{tenant.slug}:l-{i}:send" for i in range(5)} and set(keys.values()) == {1}
        assert {r.body["body"] for r in receiver.requests} == {"Hola, gracias por escribir. Clases en vivo para niños."}
    finally:
        receiver.stop()


def test_waiting_messages_drain_through_their_own_endpoints_rate_limited_queue(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    with FakeLLMServer(
        responder=lambda request: draft("Hola, gracias por escribir. Clases en vivo para niños.")
    ) as other:
        fast = _tenant(env, tmp_path, llm, allow_fallback=False, rate_per_s=4)
        slow = _tenant(env, tmp_path, other, allow_fallback=False, rate_per_s=0.5)
        llm.set_outage(True)
        other.set_outage(True)
        for tenant, prefix, n in ((fast, "qa", 3), (slow, "qb", 2)):
            report = ingest(
                env.container, tenant, [lead(f"{prefix}-{i}", f"{prefix}c-{i}") for i in range(n)], source="t"
            )
            assert {DBOS.retrieve_workflow(e.workflow_id).get_result()["status"] for e in report.accepted} == {
                "deferred"
            }
        llm.set_outage(False)
        other.set_outage(False)
        queued: dict[str, set[str]] = {fast.slug: set(), slow.slug: set()}
        for _ in range(6):  # calls that met the half-open breaker while its probe was out wait once more
            env.clock.advance(timedelta(seconds=61))
            for tenant in (fast, slow):
                sweep = run_sweep(env.container, tenant_id=tenant.id)
                sweep.wait()
                queued[tenant.slug] |= {DBOS.get_workflow_status(h.workflow_id).queue_name for h in sweep.handles}
        # Both endpoints are called "fake": the server's host tells their queues apart.
        assert queued == {
            fast.slug: {f"llm:fake@127.0.0.1:{llm.port}"},
            slow.slug: {f"llm:fake@127.0.0.1:{other.port}"},
        }
        limits = {name: DBOS.retrieve_queue(name) for names in queued.values() for name in names}
        assert {n: (q._limiter, q._worker_concurrency) for n, q in limits.items() if q} == {
            f"llm:fake@127.0.0.1:{llm.port}": ({"limit": 4, "period": 1.0}, env.container.settings.worker_concurrency),
            f"llm:fake@127.0.0.1:{other.port}": (
                {"limit": 1, "period": 2.0},
                env.container.settings.worker_concurrency,
            ),
        }
        with transaction(env.container.sessions) as session:
            assert StatsRepository(session, fast.id).model_waits() == {"sent": 3}
            assert StatsRepository(session, slow.id).model_waits() == {"sent": 2}


def test_fallback_to_templates_when_the_playbook_allows_it(env: Env, tmp_path: Path, llm: FakeLLMServer) -> None:
    tenant = _tenant(env, tmp_path, llm, allow_fallback=True)
    llm.set_outage(True)
    report = ingest(env.container, tenant, [lead(f"f-{i}", f"fc-{i}") for i in range(5)], source="test")
    results = [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]
    assert {r["status"] for r in results} == {"done"}
    sent = [json.loads(line) for line in env.outbox.read_text().splitlines()]
    assert len(sent) == 5 and all("Aurora Kids" in m["body"] for m in sent)  # the template


def test_an_invented_discount_from_the_capable_tier_is_never_sent_as_written(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    tenant = _tenant(env, tmp_path, llm, allow_fallback=True)
    llm.script(Reply(draft("Hola Ana! Solo hoy te damos 50% de descuento en el curso de programación.")))
    report = ingest(env.container, tenant, [lead("d-1", "dc-1")], source="test")
    result = DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    assert result["status"] == "done"
    [sent] = [json.loads(line) for line in env.outbox.read_text().splitlines()]
    assert "50%" not in sent["body"] and "descuento" not in sent["body"]
    with transaction(env.container.sessions) as session:
        from nightcrew.observe.repository import ActionRepository

        verdicts = [o for o, _ in ActionRepository(session, tenant.id).outputs_of_kind("guardrail.verdict")]
    assert [v["verdict"] for v in verdicts] == ["block", "pass"]
    assert any(c["check"] == "claims" and c["verdict"] == "block" for c in verdicts[0]["checks"])


def test_past_the_daily_budget_paid_copy_falls_back_to_templates_and_says_so(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    # A budget smaller than one call: the first lead spends it, the next ones get the template (this task
    # may not fall back on an outage, but the budget rule says "template").
    budget = {"daily_usd_per_tenant": 0.000001, "on_exceeded": "template"}
    tenant = _tenant(env, tmp_path, llm, allow_fallback=False, budgets=budget)
    first = ingest(env.container, tenant, [lead("b-1", "bc-1")], source="test")
    assert DBOS.retrieve_workflow(first.accepted[0].workflow_id).get_result()["status"] == "done"
    assert llm.count() == 1
    rest = ingest(env.container, tenant, [lead(f"b-{i}", f"bc-{i}") for i in (2, 3)], source="test")
    assert {DBOS.retrieve_workflow(e.workflow_id).get_result()["status"] for e in rest.accepted} == {"done"}
    assert llm.count() == 1  # no paid call past the budget
    sent = {m["contact_external_id"]: m for m in map(json.loads, env.outbox.read_text().splitlines())}
    assert sent["bc-1"]["body"] == "Hola, gracias por escribir. Clases en vivo para niños."
    assert all("Aurora Kids" in sent[c]["body"] for c in ("bc-2", "bc-3"))  # the template
    with transaction(env.container.sessions) as session:
        from nightcrew.ai.repository import LedgerRepository
        from nightcrew.observe.repository import ActionRepository

        composed = [o for o, _ in ActionRepository(session, tenant.id).outputs_of_kind("message.composed")]
        ledger = list(LedgerRepository(session).since(tenant.slug, None))
    assert [c["source"] for c in composed] == ["llm", "template", "template"]
    assert all("daily budget exceeded" in c["reason"] for c in composed[1:])
    assert sum(row.cost_usd for row in ledger) > 0.000001  # the one call that was made is on the ledger


def test_a_draft_the_model_rates_low_goes_to_a_person_not_to_the_contact(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    tenant = _tenant(env, tmp_path, llm, allow_fallback=True)
    unsure = json.dumps(
        {"text": "Hola Ana, gracias por escribir. Clases en vivo para niños.", "language": "es", "confidence": 0.3}
    )
    llm.script(Reply(unsure))
    report = ingest(env.container, tenant, [lead("q-1", "qc-1")], source="test")
    result = DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    assert result["status"] == "done" and result["verdict"] == "review"
    assert not env.outbox.exists() or "qc-1" not in env.outbox.read_text()
    with transaction(env.container.sessions) as session:
        from nightcrew.observe.repository import ActionRepository

        [composed] = [o for o, _ in ActionRepository(session, tenant.id).outputs_of_kind("message.composed")]
        [verdict] = ActionRepository(session, tenant.id).outputs_of_kind("guardrail.verdict")
    assert composed["source"] == "llm" and composed["quality"] == 0.3
    assert "draft quality confidence 0.30 < 0.60" in verdict[1]
