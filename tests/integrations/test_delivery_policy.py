"""Delivery failures per the playbook's channels.delivery: tries of a send, and what an "undelivered" callback does.

Every SMS goes through the Twilio-shaped server; its status callbacks come back signed, through the HTTP edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tests.conftest import Env
from tests.fakes.crm_servers import FakeTwilio
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.bootstrap import TenantRef
from nightcrew.channels.models import Message
from nightcrew.channels.repository import OutboxRepository
from nightcrew.db import transaction
from nightcrew.observe.models import Action
from nightcrew.playbook.schemas import DeliveryPolicy
from nightcrew.review.models import ReviewItem
from nightcrew.workflows.dispatch import ingest
from nightcrew.workflows.review import approve_item, wait_for_review_send
from nightcrew.workflows.sweeps import run_sweep

PUBLIC = "https://nightcrew.example.com"
PHONE, EMAIL = "+573001234567", "ana@example.com"


@dataclass
class Sms:
    """A tenant whose SMS goes through the fake Twilio, with the HTTP API in front of it."""

    env: Env
    twilio: FakeTwilio
    tenant: TenantRef
    client: TestClient

    def lead(self, n: int = 1) -> Message:
        """Run a lead through the workflow; its first message, as stored."""
        event = {
            "id": f"{self.tenant.slug}-lead-{n}",
            "type": "lead.created",
            "occurred_at": self.env.clock.now().isoformat(),
            "contact": {
                "external_id": f"c{n}",
                "name": "Ana",
                "phone": PHONE,
                "email": EMAIL,
                "location": "Bogotá",
            },
        }
        report = ingest(self.env.container, self.tenant, [event], source="test")
        assert DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()["status"] == "done"
        [message] = self.messages()
        return message

    def messages(self) -> list[Message]:
        """Every outbox row of the tenant, oldest first."""
        with transaction(self.env.container.sessions) as session:
            rows = list(session.query(Message).filter(Message.tenant_id == self.tenant.id).order_by(Message.id))
            session.expunge_all()
        return rows

    def sends(self) -> list[dict[str, str]]:
        """The Messages API requests Twilio received: To, Body and the key in the StatusCallback."""
        return [
            {
                "To": c.form["To"],
                "Body": c.form["Body"],
                "key": parse_qs(urlsplit(c.form["StatusCallback"]).query)["key"][0],
            }
            for c in self.twilio.calls("POST")
        ]

    def callback(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Twilio reports on a message: the signed callback through the API."""
        answer = self.twilio.fire_status(sid, status, error_code=error_code, client=self.client, public_base=PUBLIC)
        assert answer.status_code == 200, answer.text

    def actions(self, kind: str) -> list[Action]:
        with transaction(self.env.container.sessions) as session:
            rows = list(
                session.query(Action)
                .filter(Action.tenant_id == self.tenant.id, Action.kind == kind)
                .order_by(Action.id)
            )
            session.expunge_all()
        return rows

    def sweep(self) -> list[Any]:
        """Release what is due (the sweep a worker runs every minute); the results."""
        return run_sweep(self.env.container, tenant_id=self.tenant.id).wait()


@pytest.fixture
def sms(request: pytest.FixtureRequest, env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sms]:
    delivery: dict[str, Any] = getattr(request, "param", {})
    twilio = FakeTwilio()
    twilio.start()

    def edit(data: dict[str, Any]) -> None:
        data["channels"] = {"preference": ["sms", "email"], "delivery": delivery}

    monkeypatch.setenv("ACME_TWILIO_TOKEN", twilio.auth_token)
    tenant = env.container.ensure_tenant(
        f"{env.tenant.slug}d",
        "Delivery tenant",
        custom_playbook(tmp_path / "pb", edit),
        {
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token_env": "ACME_TWILIO_TOKEN",
            "twilio_from_number": "+15005550006",
            "twilio_base_url": twilio.url,
            "public_base_url": PUBLIC,
        },
    )
    env.container.transports_overridden = False  # SMS through Twilio; email falls back to the file outbox
    try:
        with TestClient(create_app(env.container.settings, container=env.container)) as client:
            yield Sms(env, twilio, tenant, client)
    finally:
        twilio.stop()


def test_the_delivery_section_defaults_to_todays_behaviour_and_refuses_nonsense() -> None:
    assert DeliveryPolicy() == DeliveryPolicy(max_send_attempts=5, on_undelivered="surface")
    with pytest.raises(ValidationError):
        DeliveryPolicy(max_send_attempts=0)
    with pytest.raises(ValidationError):
        DeliveryPolicy(max_send_attempts=9)
    with pytest.raises(ValidationError):
        DeliveryPolicy.model_validate({"on_undelivered": "resend_forever"})
    with pytest.raises(ValidationError):
        DeliveryPolicy.model_validate({"retries": 3})  # a typo is an error, never a silent default


def test_a_delivered_callback_updates_the_message_and_nothing_else(sms: Sms) -> None:
    message = sms.lead()
    assert message.status == "sent" and message.delivery_status is None
    sid = message.provider_message_id
    assert sid is not None and list(sms.twilio.messages) == [sid]
    sms.callback(sid, "sent")
    sms.callback(sid, "delivered")
    sms.callback(sid, "sent")  # late and out of order: never moves it back
    [after] = sms.messages()
    assert (after.delivery_status, after.delivery_error_code, after.error) == ("delivered", None, None)
    assert sms.actions("message.undelivered") == []
    assert [s["key"] for s in sms.sends()] == [message.idempotency_key]


def test_undelivered_is_surfaced_by_default(sms: Sms) -> None:
    message = sms.lead()
    assert message.provider_message_id is not None
    sms.callback(message.provider_message_id, "undelivered", error_code=30003)
    sms.callback(message.provider_message_id, "undelivered", error_code=30003)  # Twilio retries the callback
    [after] = sms.messages()
    assert after.status == "sent" and after.delivery_status == "undelivered" and after.delivery_error_code == "30003"
    assert after.error == "not delivered (undelivered, error 30003: no detail)"
    [action] = sms.actions("message.undelivered")
    assert action.output["action"] == "surface" and action.output["copy_message_id"] is None
    assert "surfaced for the operator" in action.reason and "on_undelivered: surface" in action.reason
    assert sms.sweep() == [] and len(sms.sends()) == 1


@pytest.mark.parametrize("sms", [{"on_undelivered": "retry_once"}], indirect=True)
def test_retry_once_sends_one_copy_under_its_own_key(sms: Sms) -> None:
    original = sms.lead()
    assert original.provider_message_id is not None
    sms.callback(original.provider_message_id, "undelivered", error_code=30003)
    sms.callback(original.provider_message_id, "failed", error_code=30003)  # a second report changes nothing
    first, copy = sms.messages()
    assert copy.idempotency_key == f"{original.idempotency_key}:redeliver:sms"
    assert (copy.status, copy.channel, copy.to_address, copy.body) == ("deferred", "sms", PHONE, original.body)
    assert copy.plan_context["redelivery_of"] == original.id and first.status == "sent"
    [action] = sms.actions("message.undelivered")
    assert action.output["action"] == "retry_once" and action.output["copy_message_id"] == copy.id
    assert sms.sweep() == [{"status": "sent"}]
    assert sms.sweep() == []  # sent once: nothing is due any more
    assert sms.sends() == [
        {"To": PHONE, "Body": original.body, "key": original.idempotency_key},
        {"To": PHONE, "Body": original.body, "key": copy.idempotency_key},
    ]
    # The copy fails too: surfaced, never a third try.
    _, sent_copy = sms.messages()
    assert sent_copy.status == "sent" and sent_copy.provider_message_id is not None
    sms.callback(sent_copy.provider_message_id, "undelivered", error_code=30003)
    assert len(sms.messages()) == 2 and sms.sweep() == [] and len(sms.sends()) == 2
    last = sms.actions("message.undelivered")[-1]
    assert last.output["action"] == "surface" and "already the one copy" in last.reason


@pytest.mark.parametrize("sms", [{"on_undelivered": "retry_once"}], indirect=True)
def test_retry_once_does_not_retry_an_address_that_will_never_work(sms: Sms) -> None:
    original = sms.lead()
    assert original.provider_message_id is not None
    sms.callback(original.provider_message_id, "undelivered", error_code=30006)  # landline or unreachable carrier
    assert len(sms.messages()) == 1 and sms.sweep() == [] and len(sms.sends()) == 1
    [action] = sms.actions("message.undelivered")
    assert action.output["action"] == "surface" and "will not work again" in action.reason


@pytest.mark.parametrize("sms", [{"on_undelivered": "next_channel"}], indirect=True)
def test_next_channel_sends_one_copy_by_email(sms: Sms) -> None:
    original = sms.lead()
    assert original.provider_message_id is not None
    sms.callback(original.provider_message_id, "undelivered", error_code=30003)
    _, copy = sms.messages()
    assert copy.idempotency_key == f"{original.idempotency_key}:redeliver:email"
    assert (copy.status, copy.channel, copy.to_address) == ("deferred", "email", EMAIL)
    assert sms.sweep() == [{"status": "sent"}]
    assert [s["key"] for s in sms.sends()] == [original.idempotency_key]  # not SMS again
    lines = [json.loads(line) for line in sms.env.outbox.read_text(encoding="utf-8").splitlines()]
    assert [(m["channel"], m["to"], m["idempotency_key"]) for m in lines] == [("email", EMAIL, copy.idempotency_key)]
    _, sent = sms.messages()
    assert sent.status == "sent" and sent.channel == "email"


@pytest.mark.parametrize("sms", [{"on_undelivered": "review"}], indirect=True)
def test_review_puts_a_copy_before_a_person_and_sends_it_once_approved(sms: Sms) -> None:
    original = sms.lead()
    assert original.provider_message_id is not None
    sms.callback(original.provider_message_id, "undelivered", error_code=30003)
    _, copy = sms.messages()
    assert copy.status == "review" and copy.idempotency_key == f"{original.idempotency_key}:redeliver:sms"
    assert sms.sweep() == [] and len(sms.sends()) == 1  # nothing goes without a person
    with transaction(sms.env.container.sessions) as session:
        [item] = session.query(ReviewItem).filter(ReviewItem.tenant_id == sms.tenant.id).all()
        assert (item.kind, item.status, item.message_id) == ("message", "open", copy.id)
        assert item.reasons[0].startswith(f"delivery: message #{original.id} was not delivered")
        item_id = item.id
    approve_item(sms.env.container, sms.tenant, item_id, reviewer="ops", text=None, correction={}, note=None)
    assert wait_for_review_send(item_id) == {"status": "sent"}
    assert [s["key"] for s in sms.sends()] == [original.idempotency_key, copy.idempotency_key]


@pytest.mark.parametrize("sms", [{"max_send_attempts": 2}], indirect=True)
def test_max_send_attempts_bounds_the_tries_of_one_send(sms: Sms) -> None:
    path = rf"/2010-04-01/Accounts/{sms.twilio.account_sid}/Messages.json"
    sms.twilio.script(path, 429, method="POST", times=5, body={"code": 20429, "message": "Too Many Requests"})
    event = {
        "id": f"{sms.tenant.slug}-busy",
        "type": "lead.created",
        "occurred_at": sms.env.clock.now().isoformat(),
        "contact": {"external_id": "busy", "name": "Ana", "phone": PHONE, "location": "Bogotá"},
    }
    report = ingest(sms.env.container, sms.tenant, [event], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    assert len(sms.twilio.calls("POST")) == 2  # the playbook's two tries, not the step's ceiling
    [message] = sms.messages()
    assert message.status == "failed" and message.error is not None
    assert "try 2 of the playbook's max_send_attempts 2" in message.error
    with transaction(sms.env.container.sessions) as session:
        assert OutboxRepository(session, sms.tenant.id).count_by_status() == {"failed": 1}
