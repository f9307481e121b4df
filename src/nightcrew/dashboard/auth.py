"""Dashboard sessions: a signed cookie naming the API key that logged in, and a CSRF token for every form."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.crm.keys import SCOPES
from nightcrew.crm.repository import ApiKeyRepository
from nightcrew.db import transaction
from nightcrew.errors import NotFound

COOKIE_NAME = "nightcrew_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_LIFETIME = timedelta(hours=12)
# How far a session's issue time may lie ahead of the clock (clock skew between processes).
_FUTURE_SLACK = timedelta(minutes=5)
_CONTEXT = b"nightcrew dashboard session v1"
ADMIN_KEY_ID = "env"


def signing_key(admin_key: str | None, fallback: bytes) -> bytes:
    """The cookie-signing key: derived from the admin API key, else this process's random ``fallback``."""
    # Deriving from the admin key lets every process behind a balancer accept the same cookie, and
    # rotating the admin key ends every session signed with the old one.
    if admin_key:
        return hmac.new(admin_key.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()
    return fallback


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], key: bytes) -> str:
    """``payload`` as a tamper-evident cookie value (signed, not encrypted: it holds no secret)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(token: str | None, key: bytes) -> dict[str, Any] | None:
    """The payload of a cookie value this key signed, else None."""
    if not token or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    try:
        expected = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeError):
        return None
    return payload if isinstance(payload, dict) else None


def new_csrf_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: object) -> bool:
    """Whether a submitted form token equals the session's (in constant time)."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def is_fresh(payload: dict[str, Any], now: datetime) -> bool:
    """Whether the session was issued within its lifetime (and not in the future)."""
    issued = payload.get("iat")
    if not isinstance(issued, int | float):
        return False
    age = now.timestamp() - float(issued)
    return -_FUTURE_SLACK.total_seconds() <= age <= SESSION_LIFETIME.total_seconds()


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard: a tenant, the key's scopes, and the session's CSRF token."""

    tenant: TenantRef
    scopes: frozenset[str]
    key_name: str
    key_id: str
    csrf: str

    def can(self, scope: str) -> bool:
        """Whether the key holds ``scope`` (admin holds every scope)."""
        return "admin" in self.scopes or scope in self.scopes


def session_payload(*, tenant_id: int, key_id: str, key_name: str, csrf: str, now: datetime) -> dict[str, Any]:
    """What a logged-in session's cookie carries: which key, which tenant, when (never the key itself)."""
    return {"tid": tenant_id, "kid": key_id, "name": key_name, "csrf": csrf, "iat": int(now.timestamp())}


def anonymous_payload(csrf: str, now: datetime) -> dict[str, Any]:
    """A pre-login cookie: only the CSRF token the login form must echo."""
    return {"csrf": csrf, "iat": int(now.timestamp())}


def resolve_viewer(container: Container, payload: dict[str, Any] | None) -> Viewer | None:
    """The viewer a signed, fresh session names, re-checked against the keys table (revoking a key logs out)."""
    if payload is None or not is_fresh(payload, container.clock.now()):
        return None
    key_id, tenant_id, csrf = payload.get("kid"), payload.get("tid"), payload.get("csrf")
    if not isinstance(key_id, str) or not isinstance(tenant_id, int) or not isinstance(csrf, str):
        return None
    if key_id == ADMIN_KEY_ID:
        # The cookie was signed with a key derived from the admin key, so it is still the same admin key.
        if container.settings.api_key is None:
            return None
        scopes, name = frozenset(SCOPES), "admin"
    else:
        if not key_id.isdigit():
            return None
        with transaction(container.sessions) as session:
            row = ApiKeyRepository(session).get(int(key_id))
            if row is None or row.revoked_at is not None or row.tenant_id != tenant_id:
                return None
            scopes, name = frozenset(row.scopes), row.name
    try:
        tenant = container.tenant_by_id(tenant_id)
    except NotFound:
        return None
    return Viewer(tenant, scopes, name, key_id, csrf)
