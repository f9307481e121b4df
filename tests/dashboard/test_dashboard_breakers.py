"""The overview shows each model endpoint's breaker as the workers last stored it, next to the tenant's calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from tests.conftest import Env
from tests.dashboard.conftest import login
from tests.fakes.llm_server import FakeLLMServer
from tests.support.events import lead
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.workflows.dispatch import ingest


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    reply = json.dumps({"text": "Hola, gracias por escribir. Clases en vivo para niños.", "language": "es"})
    server = FakeLLMServer(responder=lambda _: reply)
    server.start()
    yield server
    server.stop()


def test_an_open_breaker_is_on_the_overview_and_closes_when_the_provider_is_back(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["channels"]["preference"] = ["sms", "email"]
        data["routing"]["tiers"]["capable"] = [
            {"provider": "openai", "name": "fake", "base_url": llm.openai_base_url, "model": "gpt-test",
             "timeout_s": 2, "max_retries": 0}
        ]  # fmt: skip
        data["routing"]["tasks"]["compose_outreach"] = {"tier": "capable", "allow_template_fallback": True}
        data["routing"]["breaker"] = {"failure_threshold": 1, "cooldown_s": 600}

    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}b", "Breaker tenant", custom_playbook(tmp_path / "pb", edit)
    )
    env.container.settings.default_tenant = tenant.slug
    llm.set_outage(True)
    report = ingest(env.container, tenant, [lead("bk-1", "bkc-1")], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    with TestClient(create_app(env.container.settings, container=env.container)) as client:
        login(client)
        page = client.get("/dashboard").text
        assert 'class="badge breaker-open">open' in page
        assert f"{env.container.settings.executor_id}: open, probe after" in page
        llm.set_outage(False)
        env.clock.advance(timedelta(seconds=601))  # past the cool-down: the next call is the probe
        later = ingest(env.container, tenant, [lead("bk-2", "bkc-2")], source="test")
        DBOS.retrieve_workflow(later.accepted[0].workflow_id).get_result()
        assert 'class="badge breaker-closed">closed' in client.get("/dashboard").text
