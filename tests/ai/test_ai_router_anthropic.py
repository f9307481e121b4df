"""The router driving the real anthropic SDK against a loopback messages server."""

from __future__ import annotations

import pytest
from tests.ai.ai_helpers import (
    ENV,
    RecordingSleeper,
    RouterFactory,
    anthropic_endpoint,
    brief,
    draft_json,
    forbidden_local,
    label_json,
    openai_endpoint,
    policy,
)
from tests.fakes.llm_server import Fail, Hang, RateLimit, Reply, SimulatedLLMEndpoint

from nightcrew.ai.config import RoutingPolicy
from nightcrew.ai.errors import InvalidModelOutput, RequestRejected
from nightcrew.ai.ledger import InMemoryLedger
from nightcrew.ai.pricing import estimate_tokens
from nightcrew.ai.providers.anthropic import JSON_INSTRUCTION
from nightcrew.ai.structured import Classification
from nightcrew.simulate.llm_endpoint import count_input_tokens


def anthropic_policy(server: SimulatedLLMEndpoint, threshold: int = 3, **endpoint: object) -> RoutingPolicy:
    return policy(
        {"fast": [{"provider": "local"}], "capable": [anthropic_endpoint(server, **endpoint)]},
        {"compose_outreach": "capable", "summarise": "capable"},
        breaker={"failure_threshold": threshold, "cooldown_s": 60},
    )


def test_messages_wire_format_usage_and_cost(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger
) -> None:
    router = make_router(anthropic_policy(server))
    answer = draft_json()
    server.script(Reply(answer))
    result = router.compose(brief(), template=forbidden_local)
    assert result.source == "llm" and result.model == "claude-test"
    [request] = server.requests("anthropic")
    assert request.path == "/v1/messages"
    assert request.body["max_tokens"] == 1024 and request.body["model"] == "claude-test"
    assert isinstance(request.body["system"], str) and request.body["system"].endswith(JSON_INSTRUCTION)
    assert [m["role"] for m in request.body["messages"]] == ["user"]
    assert SimulatedLLMEndpoint.credential_matches(request, ENV["TEST_ANTHROPIC_KEY"])
    assert request.chat is not None
    [record] = ledger.records
    tokens_in, tokens_out = count_input_tokens(request.chat), estimate_tokens(answer)
    assert (record.provider, record.input_tokens, record.output_tokens) == (
        "anthropic",
        tokens_in,
        tokens_out,
    )
    assert record.cost_usd == pytest.approx((tokens_in * 3.0 + tokens_out * 15.0) / 1e6)


def test_overloaded_and_rate_limited_are_retried(
    make_router: RouterFactory,
    server: SimulatedLLMEndpoint,
    ledger: InMemoryLedger,
    sleeper: RecordingSleeper,
) -> None:
    router = make_router(anthropic_policy(server, threshold=5, max_retries=3, timeout_s=0.3))
    server.script(Fail(529, "Overloaded"), RateLimit(3), Hang(2), Reply(draft_json()))
    router.compose(brief(), template=forbidden_local)
    assert [r.outcome for r in ledger.records] == ["retried", "retried", "retried", "ok"]
    assert sleeper.delays[1] == 3.0 and len(sleeper.delays) == 3
    assert "HTTP 529" in (ledger.records[0].error or "")
    assert "timed out" in (ledger.records[2].error or "")


def test_invalid_request_is_not_retried(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, sleeper: RecordingSleeper
) -> None:
    router = make_router(anthropic_policy(server))
    server.script(Fail(422, "messages.0.content: too long"))
    with pytest.raises(RequestRejected):
        router.compose(brief(), template=forbidden_local)
    assert server.count() == 1 and sleeper.delays == []


def test_invalid_output_gets_one_correction_as_a_new_turn(
    make_router: RouterFactory, server: SimulatedLLMEndpoint
) -> None:
    router = make_router(anthropic_policy(server))
    server.script(Reply('```json\n{"summary": ""}\n```'), Reply("no json at all"))
    with pytest.raises(InvalidModelOutput):
        router.summarise(["contact: hola", "us: hola!"], language="es", local=forbidden_local)
    correction = server.requests()[1].body["messages"]
    assert [m["role"] for m in correction] == ["user", "assistant", "user"]
    assert "summary: String should have at least 1 character" in correction[2]["content"]


def test_anthropic_tier_as_cascade_target_behind_a_cheap_openai_tier(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, second_server: SimulatedLLMEndpoint
) -> None:
    routing = policy(
        {
            "fast": [openai_endpoint(server, model="mini", input_per_mtok=0.1, output_per_mtok=0.4)],
            "capable": [anthropic_endpoint(second_server)],
        },
        {"detect_language": {"tier": "fast", "confidence_threshold": 0.8}},
    )
    router = make_router(routing)
    server.script(Reply(label_json("es", 0.55)))
    second_server.script(Reply(label_json("pt", 0.9)))
    labels = {"es": "Spanish", "pt": "Portuguese", "en": "English"}
    result = router.classify("detect_language", "obrigado, vou pensar", labels=labels, local=_never)
    assert result.escalated
    assert (result.cheap.value.label, result.final.value.label) == ("es", "pt")
    assert (result.cheap.endpoint.split("/")[0], result.final.endpoint.split("/")[0]) == (
        "openai",
        "anthropic",
    )
    assert result.final.cost_usd > result.cheap.cost_usd > 0


def _never() -> Classification:
    raise AssertionError("no local answer expected")
