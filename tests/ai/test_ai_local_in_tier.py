"""A {provider: local} entry after paid endpoints is the template fallback: used only where the task allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.ai.ai_helpers import (
    RouterFactory,
    brief,
    draft_json,
    forbidden_local,
    openai_endpoint,
    policy,
    template_draft,
)
from tests.fakes.llm_server import Reply, SimulatedLLMEndpoint

from nightcrew.ai.config import RoutingPolicy
from nightcrew.ai.errors import BudgetExceeded, TierUnavailable
from nightcrew.ai.ledger import InMemoryLedger
from nightcrew.ai.router import CallContext
from nightcrew.clock import FakeClock


def local_last(server: SimulatedLLMEndpoint, **extra: object) -> RoutingPolicy:
    return policy(
        {"fast": [{"provider": "local"}], "capable": [openai_endpoint(server, max_retries=0), {"provider": "local"}]},
        {
            "compose_outreach": {"tier": "capable", "allow_template_fallback": True},
            "compose_followup": {"tier": "capable", "allow_template_fallback": False},
        },
        **extra,
    )


def test_local_last_in_a_paid_tier_is_refused_when_the_task_forbids_templates(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger, clock: FakeClock
) -> None:
    router = make_router(local_last(server))
    server.set_outage(True)
    with pytest.raises(TierUnavailable) as caught:
        router.compose(brief("compose_followup"), template=forbidden_local)
    assert "the local template fallback in tier capable is not allowed" in caught.value.message
    assert [(r.provider, r.outcome) for r in ledger.records] == [("openai", "failed"), ("openai", "queued")]
    # The wait is for the provider, not "now" (the local entry does not make the tier look up).
    assert caught.value.retry_at == clock.now() + timedelta(seconds=60)
    for _ in range(2):
        with pytest.raises(TierUnavailable):
            router.compose(brief("compose_followup"), template=forbidden_local)
    assert server.count() == 3  # the breaker is open now
    assert not router.plan("compose_followup").available
    assert router.plan("compose_outreach").available  # that task may use the templates
    assert not router.tier_available("capable", templates=False) and router.tier_available("capable")


def test_local_last_in_a_paid_tier_is_the_fallback_where_the_task_allows_it(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger
) -> None:
    router = make_router(local_last(server))
    server.set_outage(True)
    result = router.compose(brief("compose_outreach"), template=template_draft)
    assert result.source == "local" and result.fell_back and result.tier == "capable"
    assert "HTTP 503" in result.reason
    assert [(r.provider, r.outcome) for r in ledger.records] == [("openai", "failed"), ("local", "fell_back")]


def test_a_task_that_forbids_templates_gets_the_model_once_it_is_back(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, clock: FakeClock
) -> None:
    router = make_router(local_last(server))
    server.set_outage(True)
    with pytest.raises(TierUnavailable):
        router.compose(brief("compose_followup"), template=forbidden_local)
    server.set_outage(False)
    server.script(Reply(draft_json()))
    clock.advance(timedelta(seconds=61))
    result = router.compose(brief("compose_followup"), template=forbidden_local)
    assert result.source == "llm" and not result.fell_back


def test_a_local_first_tier_is_routed_not_a_fallback(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger
) -> None:
    routing = policy(
        {"fast": [{"provider": "local"}], "capable": [openai_endpoint(server)]},
        {"compose_followup": {"tier": "fast", "allow_template_fallback": False}},
    )
    result = make_router(routing).compose(brief("compose_followup"), template=template_draft)
    assert result.source == "local" and not result.fell_back and result.reason == "routed"
    assert server.count() == 0 and [r.outcome for r in ledger.records] == ["ok"]


def test_past_the_budget_the_local_entry_answers_only_when_the_budget_rule_says_template(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, ledger: InMemoryLedger
) -> None:
    spent = {"daily_usd_per_tenant": 0.0}
    templated = make_router(local_last(server, budgets={**spent, "on_exceeded": "template"}), spend=ledger)
    result = templated.compose(brief("compose_followup"), template=template_draft, context=CallContext(tenant="t"))
    assert result.source == "local" and "daily budget exceeded" in result.reason
    waiting = make_router(local_last(server, budgets={**spent, "on_exceeded": "wait"}), spend=ledger)
    with pytest.raises(BudgetExceeded):
        waiting.compose(brief("compose_followup"), template=forbidden_local, context=CallContext(tenant="t"))
    assert server.count() == 0
