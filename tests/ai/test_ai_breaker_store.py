"""Breaker transitions stored in the database (so `nightcrew providers` can show them) and model-call spans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from tests.ai.ai_helpers import API_KEY, RouterFactory, brief, draft_json, forbidden_local, openai_endpoint, policy
from tests.fakes.llm_server import Fail, Reply, SimulatedLLMEndpoint

from nightcrew.ai.errors import TierUnavailable
from nightcrew.ai.models import ProviderBreaker
from nightcrew.ai.repository import BreakerRepository, DatabaseBreakers
from nightcrew.ai.structured import Classification
from nightcrew.clock import FakeClock
from nightcrew.db import make_engine, make_session_factory, transaction
from nightcrew.observe.tracing import configure_tracing


@pytest.fixture
def breakers(database_url: str) -> Iterator[DatabaseBreakers]:
    engine = make_engine(database_url)
    store = DatabaseBreakers(make_session_factory(engine), f"exec-{id(engine)}")
    yield store
    with transaction(store.sessions) as session:
        for row in session.scalars(select(ProviderBreaker).where(ProviderBreaker.executor_id == store.executor_id)):
            session.delete(row)
    engine.dispose()


def stored(store: DatabaseBreakers) -> list[tuple[str, str, int, int]]:
    with transaction(store.sessions) as session:
        rows = session.scalars(select(ProviderBreaker).where(ProviderBreaker.executor_id == store.executor_id))
        return [(r.endpoint, r.state, r.failures, r.times_opened) for r in rows]


def test_breaker_transitions_are_stored_once_per_change(
    make_router: RouterFactory, server: SimulatedLLMEndpoint, clock: FakeClock, breakers: DatabaseBreakers
) -> None:
    routing = policy(
        {"fast": [{"provider": "local"}], "capable": [openai_endpoint(server, max_retries=0, name="capable-ep")]},
        {"compose_outreach": "capable"},
    )
    router = make_router(routing, breakers=breakers)
    server.set_outage(True)
    for _ in range(2):
        with pytest.raises(TierUnavailable):
            router.compose(brief(), template=forbidden_local)
    assert stored(breakers) == []  # failures below the threshold are not transitions
    with pytest.raises(TierUnavailable):
        router.compose(brief(), template=forbidden_local)
    assert stored(breakers) == [("capable-ep", "open", 3, 1)]
    with transaction(breakers.sessions) as session:
        [row] = BreakerRepository(session).for_endpoints([("capable-ep", server.openai_base_url)])
        assert row.updated_at == clock.now() and row.retry_at == clock.now() + timedelta(seconds=60)
        assert BreakerRepository(session).for_endpoints([("capable-ep", "http://elsewhere/v1")]) == []
    changed_at = clock.now()
    clock.advance(timedelta(seconds=10))
    with pytest.raises(TierUnavailable):  # refused while open: nothing changes, nothing is written
        router.compose(brief(), template=forbidden_local)
    with transaction(breakers.sessions) as session:
        [row] = BreakerRepository(session).for_endpoints([("capable-ep", server.openai_base_url)])
        assert row.updated_at == changed_at
    server.set_outage(False)
    server.script(Reply(draft_json()))
    clock.advance(timedelta(seconds=60))
    assert router.compose(brief(), template=forbidden_local).source == "llm"
    assert stored(breakers) == [("capable-ep", "closed", 0, 1)]  # via half_open, one row per endpoint


def test_each_provider_call_is_a_span_without_prompt_or_key(
    make_router: RouterFactory, server: SimulatedLLMEndpoint
) -> None:
    configure_tracing("none")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    try:
        routing = policy(
            {"fast": [{"provider": "local"}], "capable": [openai_endpoint(server, max_retries=1)]},
            {"compose_outreach": "capable"},
        )
        router = make_router(routing)
        server.script(Fail(500), Reply(draft_json()))
        router.compose(brief(), template=forbidden_local)
        # A local answer calls no provider: no model-call span.
        router.classify(
            "classify_intent", "hola", labels={"a": ""}, local=lambda: Classification(label="a", confidence=1)
        )
    finally:
        processor.shutdown()
    spans = [s for s in exporter.get_finished_spans() if s.name == "model.call"]
    assert [s.attributes["model.outcome"] for s in spans if s.attributes] == ["server", "ok"]
    ok = spans[1].attributes or {}
    assert ok["model.provider"] == "openai" and ok["model.task"] == "compose_outreach"
    assert ok["model.tier"] == "capable" and ok["model.name"] == "capable-model" and ok["model.attempt"] == 2
    assert int(str(ok["model.input_tokens"])) > 0 and int(str(ok["model.output_tokens"])) > 0
    text = repr([dict(s.attributes or {}) for s in spans])
    assert API_KEY not in text and "Aurora" not in text and "Ana" not in text  # no key, no prompt
