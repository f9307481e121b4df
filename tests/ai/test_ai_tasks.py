"""classify_lead, detect_language and summarise through the router: local by default, a network tier if configured."""

from __future__ import annotations

import json

import pytest
from tests.ai.ai_helpers import RouterFactory, label_json, openai_endpoint, policy
from tests.fakes.llm_server import Reply, SimulatedLLMEndpoint

from nightcrew.ai.config import RoutingPolicy
from nightcrew.ai.ledger import InMemoryLedger
from nightcrew.ai.router import CallContext
from nightcrew.ai.tasks import Turn, classify_lead, detect_language, lead_text, local_summary, summarise_conversation
from nightcrew.intelligence.decisions import decide_segment
from nightcrew.playbook import Playbook, load_playbook

FIELDS = {"child_age": 9, "inquiry_type": "coding_course", "notes": ""}
CONTEXT = CallContext(tenant="t1", contact="c1", call_id="wf:step")


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook(None)


def routed_to(server: SimulatedLLMEndpoint, tier_of: dict[str, object]) -> RoutingPolicy:
    return policy({"fast": [{"provider": "local"}], "capable": [openai_endpoint(server, max_retries=0)]}, tier_of)


def test_classify_lead_is_the_learned_model_on_the_local_tier_and_costs_nothing(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger, playbook: Playbook
) -> None:
    router = make_router(routed_to(server, {}))
    decision = classify_lead(router, playbook, None, None, FIELDS, context=CONTEXT)
    expected = decide_segment(playbook, None, None, dict(FIELDS))
    assert {k: v for k, v in decision.items() if k != "routing"} == expected
    assert decision["routing"]["source"] == "local" and decision["routing"]["tier"] == "fast"
    [record] = ledger.records
    assert (record.task, record.provider, record.outcome, record.cost_usd) == ("classify_lead", "local", "ok", 0.0)
    assert (record.tenant, record.contact, record.call_id) == ("t1", "c1", "wf:step")
    assert record.latency_ms >= 0.0 and server.count() == 0


def test_classify_lead_on_a_capable_endpoint_is_validated_against_the_segments(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger, playbook: Playbook
) -> None:
    router = make_router(routed_to(server, {"classify_lead": "capable"}))
    server.script(Reply(label_json("vip", 0.9)), Reply(label_json("hot", 0.83, "asks for a trial")))
    decision = classify_lead(router, playbook, None, None, FIELDS, context=CONTEXT)
    assert decision["segment"] == "hot" and decision["confidence"] == 0.83 and decision["model"] == "capable-model"
    assert decision["routing"]["tier"] == "capable" and decision["routing"]["cost_usd"] > 0
    first, second = server.requests()
    assert first.chat is not None and "child_age: 9\ninquiry_type: coding_course" in first.chat.last_user()
    assert "- hot: likely to enrol soon" in first.chat.system
    assert second.chat is not None and "label 'vip' is not one of ['cold', 'hot', 'warm']" in second.chat.last_user()
    assert [r.outcome for r in ledger.records] == ["retried", "ok"]


def test_classify_lead_never_waits_when_its_tier_is_down(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger, playbook: Playbook
) -> None:
    router = make_router(routed_to(server, {"classify_lead": {"tier": "capable", "allow_template_fallback": False}}))
    server.set_outage(True)
    decision = classify_lead(router, playbook, None, None, FIELDS, context=CONTEXT)
    assert decision["segment"] == playbook.default_segment and decision["routing"]["fell_back"]
    assert "HTTP 503" in decision["routing"]["reason"] and "does not wait" in decision["routing"]["reason"]
    assert [(r.provider, r.outcome) for r in ledger.records] == [("openai", "failed"), ("local", "fell_back")]


def test_detect_language_locally_and_on_a_capable_endpoint(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger, playbook: Playbook
) -> None:
    local = detect_language(make_router(routed_to(server, {})), playbook, "oi, qto custa?", prior="pt", context=CONTEXT)
    assert (local.language, local.routing["source"], local.cost_usd) == ("pt", "local", 0.0)
    assert ledger.records[-1].task == "detect_language" and ledger.records[-1].provider == "local"
    router = make_router(routed_to(server, {"detect_language": "capable"}))
    server.script(Reply(label_json("fr", 0.9)), Reply(label_json("es", 0.97)))
    routed = detect_language(router, playbook, "hola, buenas", prior="pt", context=CONTEXT)
    assert (routed.language, routed.confidence, routed.source) == ("es", 0.97, "model capable-model")
    assert routed.cost_usd > 0 and routed.routing["tier"] == "capable"
    request = server.requests()[0].chat
    assert request is not None and "usually writes in Brazilian Portuguese" in request.last_user()


def test_summaries_are_extractive_locally_and_the_models_on_a_capable_tier(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger
) -> None:
    turns = [Turn("us", "Hola Ana, te invitamos a una clase gratis."), Turn("contact", "pésimo servicio!!  nadie vino")]
    notes = local_summary(
        turns,
        name="Ana",
        intent="complaint",
        intent_confidence=0.91,
        language="es",
        segment="hot",
        stage="trial_booked",
        team="support",
    )
    assert notes.summary == (
        "Ana (segment hot, stage trial_booked) wrote in Spanish: intent complaint (0.91), for support. "
        "Their latest: “pésimo servicio!! nadie vino”. Our last message: “Hola Ana, te invitamos a una clase gratis.”."
    )
    text, how, records = summarise_conversation(
        make_router(routed_to(server, {})), turns, language="es", local=notes, context=CONTEXT
    )
    assert text == notes.summary and how["source"] == "local" and records[0].cost_usd == 0.0
    server.script(Reply(json.dumps({"summary": "Ana se queja: el profesor no vino."})))
    text, how, records = summarise_conversation(
        make_router(routed_to(server, {"summarise": "capable"})), turns, language="es", local=notes, context=CONTEXT
    )
    assert text == "Ana se queja: el profesor no vino." and how["tier"] == "capable" and records[-1].cost_usd > 0
    chat = server.requests()[0].chat
    assert chat is not None and "contact: pésimo servicio" in chat.last_user() and "Write in Spanish" in chat.system


def test_lead_text_skips_empty_fields() -> None:
    assert lead_text({"b": 2, "a": "x", "c": None}) == "a: x\nb: 2"
    assert lead_text({}) == "(no fields)"
