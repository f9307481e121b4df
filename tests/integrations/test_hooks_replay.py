"""Replay keys through the HTTP edge: they name the delivery, and they commit with the events or not at all."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbos import DBOS
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from tests.conftest import Env
from tests.integrations.helpers import PLAYBOOK_CRM
from tests.support.playbooks import custom_playbook

from nightcrew.api.app import create_app
from nightcrew.db import transaction
from nightcrew.events.adapters.generic import sign_generic
from nightcrew.events.models import Event, WebhookReplayKey


def _wait_all(slug: str) -> None:
    for status in DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False):
        if status.workflow_id.startswith(f"{slug}:"):
            DBOS.retrieve_workflow(status.workflow_id).get_result()


def _stored(env: Env, tenant_id: int) -> list[str]:
    with transaction(env.container.sessions) as session:
        return sorted(session.scalars(text("SELECT key FROM events WHERE tenant_id = :t"), {"t": tenant_id}).all())


def _replay_keys(env: Env, key: str) -> int:
    with transaction(env.container.sessions) as session:
        return session.query(WebhookReplayKey).filter(WebhookReplayKey.key == key).count()


@contextmanager
def failing_insert(env: Env, event_key: str) -> Iterator[None]:
    """A trigger that makes storing one event fail, as a full disk or a lost connection would."""
    name = f"nc_fail_{uuid.uuid4().hex[:8]}"
    postgres = env.container.settings.database_url.startswith("postgresql")
    with env.container.sessions() as session, session.begin():
        if postgres:
            session.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.key = '{event_key}' THEN RAISE EXCEPTION 'simulated storage failure'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            session.execute(
                text(f"CREATE TRIGGER {name} BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION {name}()")
            )
        else:
            session.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON events WHEN NEW.key = '{event_key}' "
                    "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END"
                )
            )
    try:
        yield
    finally:
        with env.container.sessions() as session, session.begin():
            if postgres:
                session.execute(text(f"DROP TRIGGER {name} ON events"))
                session.execute(text(f"DROP FUNCTION {name}()"))
            else:
                session.execute(text(f"DROP TRIGGER {name}"))


def test_a_delivery_whose_events_could_not_be_stored_is_accepted_when_sent_again(env: Env) -> None:
    env.container.settings.webhook_signing_secrets = [SecretStr("s3cret")]
    env.container.settings.default_tenant = env.tenant.slug  # the settings' secrets are the default tenant's
    key = f"{env.tenant.slug}-boom"
    body = json.dumps(
        {
            "id": key,
            "type": "lead.created",
            "occurred_at": env.clock.now().isoformat(),
            "contact": {"external_id": f"{key}-c", "phone": "+573001234567"},
        }
    ).encode()
    headers = sign_generic("s3cret", body, int(env.clock.now().timestamp()))
    path = f"/v1/hooks/events/{env.tenant.slug}"
    app = create_app(env.container.settings, container=env.container)
    with TestClient(app, raise_server_exceptions=False) as client:
        with failing_insert(env, key):
            failed = client.post(path, content=body, headers=headers)
        assert failed.status_code == 500
        assert _stored(env, env.tenant.id) == []
        replay_key = f"generic:{headers['X-Nightcrew-Signature'].removeprefix('sha256=')}"
        assert _replay_keys(env, replay_key) == 0  # the claim rolled back with the failed store: no key burnt
        resent = client.post(path, content=body, headers=headers)  # the sender retries the same signed request
        assert resent.status_code == 200, resent.text
        assert [e["id"] for e in resent.json()["accepted"]] == [key]
        replay = client.post(path, content=body, headers=headers)
        assert replay.status_code == 401 and "replay" in replay.json()["message"].lower()
        _wait_all(env.tenant.slug)
    assert _stored(env, env.tenant.id) == [key] and _replay_keys(env, replay_key) == 1


def _ghl_tenant(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["crm"] = yaml.safe_load(PLAYBOOK_CRM)["crm"]

    monkeypatch.setenv("ACME_GHL_SHARED", "ghl-shared-secret")
    return env.container.ensure_tenant(
        f"{env.tenant.slug}s",
        "GHL custom webhook tenant",
        custom_playbook(tmp_path / "pb", edit),
        {"ghl_webhook_secret_env": "ACME_GHL_SHARED"},
    )


def test_gohighlevel_custom_webhooks_without_a_webhook_id_are_each_accepted_once(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = _ghl_tenant(env, tmp_path, monkeypatch)

    def delivery(contact_id: str, name: str) -> bytes:
        # A workflow's Custom Webhook action: the contact's fields, no webhookId, no signature.
        payload = {
            "type": "ContactCreate",
            "id": contact_id,
            "firstName": name,
            "phone": "+5511912345678",
            "customFields": [{"id": "Xq7Ch1dAge", "value": "9"}],
            "dateAdded": env.clock.now().isoformat(),
            "timestamp": env.clock.now().isoformat(),
        }
        return json.dumps(payload).encode()

    headers = {"X-Nightcrew-Webhook-Secret": "ghl-shared-secret", "Content-Type": "application/json"}
    path = f"/v1/hooks/gohighlevel/{tenant.slug}"
    first, second = delivery("ghlA", "Ana"), delivery("ghlB", "Bruno")
    with TestClient(create_app(env.container.settings, container=env.container)) as client:
        one = client.post(path, content=first, headers=headers)
        assert one.status_code == 200, one.text
        two = client.post(path, content=second, headers=headers)
        assert two.status_code == 200, two.text  # the same secret, a different delivery: not a replay
        assert [len(r.json()["accepted"]) for r in (one, two)] == [1, 1]
        again = client.post(path, content=first, headers=headers)
        assert again.status_code == 401 and again.json()["details"]["reason"] == "replay"
        wrong = client.post(path, content=second, headers={**headers, "X-Nightcrew-Webhook-Secret": "guess"})
        assert wrong.status_code == 401 and wrong.json()["details"]["reason"] == "bad_signature"
        _wait_all(tenant.slug)
    with transaction(env.container.sessions) as session:
        sources = sorted(
            session.scalars(text("SELECT source FROM events WHERE tenant_id = :t ORDER BY key"), {"t": tenant.id}).all()
        )
        assert sources == ["gohighlevel", "gohighlevel"]
        assert session.query(Event).filter(Event.tenant_id == tenant.id).count() == 2
