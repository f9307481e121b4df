"""Who is calling: a Bearer key resolves to a tenant and its scopes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.errors import Forbidden, Unauthorized

SCOPES = ("events:write", "read", "review", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    tenant: TenantRef
    scopes: frozenset[str]
    key_name: str

    def require(self, scope: str) -> None:
        """Raise 403 unless the caller holds ``scope`` (admin holds every scope)."""
        if "admin" not in self.scopes and scope not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")


def bearer_token(request: Request) -> str:
    """The token from ``Authorization: Bearer <key>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    return token.strip()


def authenticate(container: Container, token: str) -> Principal:
    """Resolve a key: the single-tenant admin key from NIGHTCREW_API_KEY."""
    admin = container.settings.api_key
    if admin is not None and hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        return Principal(container.tenant(container.settings.default_tenant), frozenset(SCOPES), "admin")
    raise Unauthorized("unknown API key")
