"""What every webhook adapter shares: header lookup, precise rejections, and the mapping outcome."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nightcrew.crm.mapping import RecordError
from nightcrew.errors import Unauthorized

RejectReason = Literal["missing_header", "bad_signature", "stale_timestamp", "replay", "not_configured"]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name (frameworks differ)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def reject(reason: RejectReason, message: str) -> Unauthorized:
    """A 401 whose ``details.reason`` says exactly why (for the log and for tests)."""
    return Unauthorized(message, details={"reason": reason})


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time comparison of two signatures."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


@dataclass
class AdapterResult:
    """Events mapped from one webhook delivery, records that could not be mapped, and what was not for us."""

    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
