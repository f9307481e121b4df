"""Hostile and odd input against the API's OpenAPI schema (schemathesis, bounded): no operation answers 5xx.

The app runs in-process (ASGI) on the test's database, authenticated as the admin of the test's tenant; on
PostgreSQL when the server answers (it refuses more input than SQLite), else on SQLite.
Schemathesis' own engine runs its coverage phase (boundary values: huge integers, empty and odd strings) and a
bounded fuzzing phase, with one check: not a server error. An exception the app raises is a 500 in production.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from pydantic import TypeAdapter
from schemathesis.engine import Status
from schemathesis.engine import events as engine_events
from tests.conftest import Env
from tests.faults.processes import pg_available

from nightcrew.api.app import create_app
from nightcrew.events.schemas import EventIn

ADMIN_KEY = "test-admin-key"


def with_event_bodies(openapi: dict[str, Any]) -> dict[str, Any]:
    """The schema plus the body of POST /v1/events, which the route reads itself and so does not declare."""
    event = TypeAdapter(EventIn).json_schema(ref_template="#/components/schemas/{model}")
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components.update(event.pop("$defs", {}))
    components["EventIn"] = event
    ref = {"$ref": "#/components/schemas/EventIn"}
    batch = {"type": "object", "properties": {"events": {"type": "array", "items": ref, "maxItems": 5}}}
    openapi["paths"]["/v1/events"]["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [ref, batch]}}},
    }
    return openapi


def server_errors(app: Any, *, max_examples: int) -> tuple[Counter[str], set[str]]:
    """Run schemathesis against ``app``: (server errors by operation and cause, operations exercised)."""
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {ADMIN_KEY}"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
            "generation": {"max-examples": max_examples, "deterministic": True, "no-shrink": True},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    errors: Counter[str] = Counter()
    exercised: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, engine_events.ScenarioFinished) and event.label and event.status != Status.SKIP:
            exercised.add(event.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        errors[f"{event.label}: {str(check.failure_info.failure).splitlines()[0]}"] += 1
        elif isinstance(event, engine_events.NonFatalError):
            # In-process, the app's unhandled exception reaches the client; behind uvicorn it is a 500.
            cause = str(event.value).splitlines()[0][:160]
            errors[f"{event.label}: 500 from {type(event.value).__name__}: {cause}"] += 1
        elif isinstance(event, engine_events.FatalError):
            raise AssertionError(f"schemathesis could not run: {event.exception}")
    return errors, exercised


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")  # from schemathesis' strategies
def test_no_operation_answers_a_server_error(env: Env) -> None:
    if env.container.settings.is_sqlite and pg_available() is None:
        pytest.skip("runs once, on PostgreSQL: it refuses more input than SQLite (NUL, int4 ids, JSON NaN)")
    env.container.settings.default_tenant = env.tenant.slug
    env.container.settings.rate_limit_per_minute = 100_000  # the limiter is not under test here
    app = create_app(env.container.settings, container=env.container)
    app.openapi_schema = with_event_bodies(app.openapi())
    errors, exercised = server_errors(app, max_examples=10)
    assert {"POST /v1/events", "GET /v1/events/{event_id}", "GET /v1/review", "POST /v1/review/{item_id}/approve"} <= (
        exercised
    )
    assert not errors, "\n".join(f"{n} x {what}" for what, n in errors.most_common())
