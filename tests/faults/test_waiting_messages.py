"""A message that waits for a model twice within one minute must still be sent when the model returns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import Env
from tests.fakes.llm_server import FakeLLMServer
from tests.support.events import lead
from tests.support.playbooks import custom_playbook

from nightcrew.channels.models import Message
from nightcrew.db import transaction
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.sweeps import run_sweep

TEXT = "Hola, gracias por escribir. Clases en vivo para niños."


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(responder=lambda _: json.dumps({"text": TEXT, "language": "es", "claims_used": []}))
    server.start()
    yield server
    server.stop()


def test_a_message_deferred_again_within_the_minute_is_released_when_the_model_returns(
    env: Env, tmp_path: Path, llm: FakeLLMServer
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["channels"]["preference"] = ["sms", "email"]
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
        data["routing"]["tasks"]["compose_outreach"] = {"tier": "capable", "allow_template_fallback": False}
        data["routing"]["breaker"] = {"failure_threshold": 1, "cooldown_s": 10}

    tenant = env.container.ensure_tenant(f"{env.tenant.slug}w", "Wait tenant", custom_playbook(tmp_path / "pb", edit))
    llm.set_outage(True)
    report = ingest(env.container, tenant, [lead("w-1", "wc-1")], source="test")
    assert DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()["status"] == "deferred"
    with transaction(env.container.sessions) as session:
        [message] = _messages(session, tenant.id)
        first_due = message.send_after
    assert first_due is not None
    assert first_due == env.clock.now() + timedelta(seconds=10)  # 15:00:10: the breaker's cool-down
    # Still down at 15:00:10: the probe fails and the message waits again, until 15:00:20 (the same minute).
    env.clock.advance(timedelta(seconds=10))
    run_sweep(env.container).wait()
    with transaction(env.container.sessions) as session:
        [message] = _messages(session, tenant.id)
        second_due = message.send_after
        assert message.status == "awaiting_model" and second_due is not None and second_due > first_due
        assert second_due.replace(second=0, microsecond=0) == first_due.replace(second=0, microsecond=0)
    # The model is back; at 15:00:20 the sweep should compose and send the message.
    llm.set_outage(False)
    env.clock.advance(timedelta(seconds=10))
    run_sweep(env.container).wait()
    with transaction(env.container.sessions) as session:
        [message] = _messages(session, tenant.id)
        assert message.status == "sent", f"still {message.status} after the model returned"


def _messages(session: Session, tenant_id: int) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.tenant_id == tenant_id)).all())
