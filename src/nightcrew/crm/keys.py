"""API keys: random, shown once, stored as SHA-256, each with scopes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from nightcrew.crm.models import ApiKey
from nightcrew.crm.repository import ApiKeyRepository
from nightcrew.errors import NotFound, ValidationFailed

SCOPES = ("events:write", "read", "review", "admin")


def hash_key(key: str) -> str:
    """The stored form of a key (keys carry 256 random bits, so a plain SHA-256 is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: ``secret`` is shown once and never stored."""

    id: int
    name: str
    secret: str
    scopes: list[str]


def issue_key(session: Session, tenant_id: int, name: str, scopes: list[str], now: datetime) -> IssuedKey:
    """Create a key for a tenant with the given scopes."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; unknown: {unknown}")
    secret = f"nck_{secrets.token_urlsafe(32)}"
    row = ApiKeyRepository(session).add(
        ApiKey(
            tenant_id=tenant_id,
            name=name,
            prefix=secret[:10],
            key_hash=hash_key(secret),
            scopes=sorted(scopes),
            created_at=now,
        )
    )
    return IssuedKey(row.id, row.name, secret, list(row.scopes))


def revoke_key(session: Session, tenant_id: int, key_id: int, now: datetime) -> None:
    """Revoke a key of this tenant."""
    row = ApiKeyRepository(session).get(key_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"API key #{key_id} not found for this tenant")
    row.revoked_at = now
