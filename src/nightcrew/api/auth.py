"""Who is calling: a Bearer key resolves to a tenant and its scopes; each key has a rate limit."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.clock import Clock
from nightcrew.crm.keys import SCOPES, hash_key
from nightcrew.crm.repository import ApiKeyRepository, RateBucketRepository
from nightcrew.db import transaction
from nightcrew.errors import Forbidden, RateLimited, Unauthorized


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    tenant: TenantRef
    scopes: frozenset[str]
    key_name: str
    key_id: str

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
    """Resolve a key: NIGHTCREW_API_KEY (admin of the default tenant) or a stored tenant key."""
    admin = container.settings.api_key
    if admin is not None and hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        return Principal(container.tenant(container.settings.default_tenant), frozenset(SCOPES), "admin", "env")
    now = container.clock.now()
    with transaction(container.sessions) as session:
        keys = ApiKeyRepository(session)
        row = keys.by_hash(hash_key(token))
        if row is None:
            raise Unauthorized("unknown or revoked API key")
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            keys.touch(row.id, now)
        tenant_id, scopes, name, key_id = row.tenant_id, frozenset(row.scopes), row.name, str(row.id)
    return Principal(container.tenant_by_id(tenant_id), scopes, name, key_id)


class RateLimiter(Protocol):
    """Takes one request from a caller's allowance or raises RateLimited with how long to wait."""

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise RateLimited."""
        ...


def limit_exceeded(per_minute: float, wait_s: float) -> RateLimited:
    """The error a caller over its limit gets."""
    return RateLimited(
        f"rate limit of {per_minute:.0f} requests per minute exceeded for this API key", retry_after=wait_s
    )


class MemoryRateLimiter:
    """A token bucket per key in this process: right for one API process (the embedded default)."""

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise RateLimited with how long to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise limit_exceeded(self.rate * 60, (1.0 - tokens) / self.rate)
            self._buckets[key] = (tokens - 1.0, now)


class SharedRateLimiter:
    """A token bucket per key in the database, so API processes behind a balancer share one limit per key."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, per_minute: int, burst: int | None = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.rate = per_minute / 60.0
        self.capacity = float(burst or per_minute)

    def check(self, key: str) -> None:
        """Take one token for ``key`` in its own short transaction or raise RateLimited."""
        with transaction(self.sessions) as session:
            wait = RateBucketRepository(session).take(
                key[:200], now=self.clock.now().timestamp(), rate=self.rate, capacity=self.capacity
            )
        if wait is not None:
            raise limit_exceeded(self.rate * 60, wait)


def make_rate_limiter(container: Container) -> RateLimiter:
    """The limiter ``NIGHTCREW_RATE_LIMIT_STORE`` names; ``auto``: shared on PostgreSQL, in memory on SQLite."""
    settings = container.settings
    store = settings.rate_limit_store
    if store == "auto":
        store = "database" if settings.database_url.startswith("postgresql") else "memory"
    if store == "database":
        # Requests arrive in real time, whatever the business clock says (the demo fast-forwards it).
        return SharedRateLimiter(
            container.sessions, container.wall_clock, settings.rate_limit_per_minute, settings.rate_limit_burst
        )
    return MemoryRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
