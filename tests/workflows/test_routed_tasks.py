"""Lead segments, languages and hand-off summaries go through the router: in the ledger, local or on a paid tier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.conftest import Env
from tests.fakes.llm_server import ChatRequest, FakeLLMServer
from tests.support.events import lead, message
from tests.support.playbooks import custom_playbook

from nightcrew.ai.repository import LedgerRepository
from nightcrew.bootstrap import TenantRef
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.observe.repository import ActionRepository
from nightcrew.review.repository import ReviewRepository
from nightcrew.workflows.dispatch import ingest

COMPLAINT = "pésimo servicio, el profe no se conectó y nadie me avisó!!"
LLM_SUMMARY = "Ana se queja: el profesor no se conectó. Pide una explicación."


def answer(request: ChatRequest) -> str:
    if request.system.startswith("You label messages"):
        return json.dumps({"label": "hot", "confidence": 0.88, "reason": "asks about a course for a child"})
    if request.system.startswith("You summarise"):
        return json.dumps({"summary": LLM_SUMMARY})
    return json.dumps({"text": "Hola, gracias por escribir. Clases en vivo para niños.", "language": "es"})


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(responder=answer) as server:
        yield server


def run(env: Env, tenant: TenantRef, *events: dict[str, Any]) -> list[dict[str, Any]]:
    report = ingest(env.container, tenant, list(events), source="test")
    assert not report.rejected, report.rejected
    return [DBOS.retrieve_workflow(e.workflow_id).get_result() for e in report.accepted]


def lead_then_complaint(env: Env, tenant: TenantRef, external_id: str) -> dict[str, Any]:
    run(env, tenant, lead(f"{external_id}-l", external_id))
    env.clock.advance(timedelta(minutes=5))
    [result] = run(
        env, tenant, message(f"{external_id}-m", external_id, COMPLAINT, occurred_at=env.clock.now().isoformat())
    )
    assert result["intent"] == "complaint" and result["handoff"] is True, result
    return result


def test_by_default_every_understanding_task_is_local_and_on_the_ledger(env: Env) -> None:
    result = lead_then_complaint(env, env.tenant, "rt-1")
    with transaction(env.container.sessions) as session:
        ledger = [r for r in LedgerRepository(session).since(env.tenant.slug, None) if r.contact == "rt-1"]
        actions = ActionRepository(session, env.tenant.id)
        [classified] = actions.outputs_of_kind("lead.classified")
        [(summarised, reason)] = actions.outputs_of_kind("handoff.summarised")
        [handoff] = [i for i in ReviewRepository(session, env.tenant.id).list("open", limit=10, offset=0)]
    by_task = {r.task: r for r in ledger}
    assert {"classify_lead", "detect_language", "classify_intent", "summarise"} <= set(by_task)
    for task in ("classify_lead", "detect_language", "summarise"):
        row = by_task[task]
        assert (row.provider, row.cost_usd, row.outcome, row.tenant) == ("local", 0.0, "ok", env.tenant.slug)
        assert row.latency_ms >= 0.0
    assert by_task["classify_lead"].call_id.endswith(":lead.classify")
    assert classified[0]["routing"]["tier"] == "fast"
    summary = summarised["summary"]
    assert summary.startswith("Ana Gómez (segment warm, stage new) wrote in Spanish: intent complaint")
    assert "pésimo servicio" in summary and "for support" in summary and "Our last message" in summary
    assert summarised["source"] == "local" and "nightcrew's own notes" in reason
    assert handoff.kind == "handoff" and handoff.context["summary"] == summary == result["summary"]


def test_a_capable_tier_classifies_the_lead_and_writes_the_summary_when_configured(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["routing"]["tiers"]["capable"] = [
            {
                "provider": "openai",
                "name": "fake",
                "base_url": llm.openai_base_url,
                "model": "gpt-test",
                "input_per_mtok": 0.15,
                "output_per_mtok": 0.6,
                "timeout_s": 2,
                "max_retries": 0,
            }
        ]
        data["routing"]["tasks"].update(classify_lead="capable", summarise="capable")

    tenant = env.container.ensure_tenant(f"{env.tenant.slug}c", "Capable", custom_playbook(tmp_path / "pb", edit))
    lead_then_complaint(env, tenant, "rt-2")
    with transaction(env.container.sessions) as session:
        ledger = list(LedgerRepository(session).since(tenant.slug, None))
        actions = ActionRepository(session, tenant.id)
        contact = ContactRepository(session, tenant.id).by_external_id("rt-2")
        assert contact is not None
        [classified] = [a for a in actions.for_contact(contact.id) if a.kind == "lead.classified"]
        [(summarised, _)] = actions.outputs_of_kind("handoff.summarised")
        [handoff] = ReviewRepository(session, tenant.id).list("open", limit=10, offset=0)
    assert classified.output["segment"] == "hot" and classified.model == "gpt-test" and classified.tier == "capable"
    assert classified.cost_usd > 0
    paid = {r.task for r in ledger if r.provider == "openai" and r.cost_usd > 0}
    assert {"classify_lead", "summarise"} <= paid
    assert summarised["summary"] == LLM_SUMMARY and summarised["tier"] == "capable"
    assert handoff.context["summary"] == LLM_SUMMARY and handoff.context["summary_source"] == "llm"
    [summary_request] = [r for r in llm.requests() if r.chat and r.chat.system.startswith("You summarise")]
    assert summary_request.chat is not None and "contact: pésimo servicio" in summary_request.chat.last_user()
