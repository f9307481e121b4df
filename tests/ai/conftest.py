"""Fixtures for the model layer: a loopback LLM server, a fake clock and a sleeper that does not sleep."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from tests.ai.ai_helpers import ENV, RecordingSleeper, RouterFactory

from nightcrew.ai.config import RoutingPolicy
from nightcrew.ai.ledger import InMemoryLedger
from nightcrew.ai.router import ModelRouter
from nightcrew.clock import FakeClock
from nightcrew.simulate.llm_endpoint import SimulatedLLMEndpoint


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper(clock: FakeClock) -> RecordingSleeper:
    return RecordingSleeper(clock)


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture
def server() -> Iterator[SimulatedLLMEndpoint]:
    with SimulatedLLMEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def second_server() -> Iterator[SimulatedLLMEndpoint]:
    with SimulatedLLMEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def make_router(clock: FakeClock, sleeper: RecordingSleeper, ledger: InMemoryLedger) -> Iterator[RouterFactory]:
    routers: list[ModelRouter] = []

    def build(routing: RoutingPolicy, **kwargs: Any) -> ModelRouter:
        kwargs.setdefault("env", ENV)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sink", ledger)
        kwargs.setdefault("sleeper", sleeper)
        kwargs.setdefault("rng", random.Random(7))
        router = ModelRouter(routing, **kwargs)
        routers.append(router)
        return router

    yield build
    for router in routers:
        router.close()
