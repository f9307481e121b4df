"""Dependencies every router shares: the container, the caller, the JSON body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from nightcrew.api.auth import Principal, RateLimiter, authenticate, bearer_token
from nightcrew.bootstrap import Container
from nightcrew.errors import PayloadTooLarge, ValidationFailed


def get_container(request: Request) -> Container:
    """The application's composition root."""
    container: Container = request.app.state.container
    return container


def principal(request: Request) -> Principal:
    """The authenticated, rate-limited caller."""
    container = get_container(request)
    who = authenticate(container, bearer_token(request))
    limiter: RateLimiter = request.app.state.limiter
    limiter.check(f"key:{who.tenant.id}:{who.key_id}")  # the admin key's id is 'env' in every install
    return who


async def read_json(request: Request) -> Any:
    """The request body as JSON, within the size limit."""
    limit = get_container(request).settings.max_body_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    return loads_json(body)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads_json(body: bytes | str) -> Any:
    """Parse strict JSON (no NaN or Infinity, which Python accepts and JSON does not); a clear 422 otherwise."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ValidationFailed(f"body is not valid JSON: {exc}") from exc
