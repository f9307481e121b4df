"""nightcrew's own webhook signature: HMAC-SHA256 over ``timestamp.body``, a tolerance window, no replays.

Headers: ``X-Nightcrew-Timestamp: <unix seconds>`` and ``X-Nightcrew-Signature: sha256=<hex>`` where the hex is
HMAC-SHA256(secret, f"{timestamp}.".encode() + body). Several secrets may be active at once (rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from nightcrew.clock import Clock
from nightcrew.events.adapters.common import header, reject, same

TIMESTAMP_HEADER = "X-Nightcrew-Timestamp"
SIGNATURE_HEADER = "X-Nightcrew-Signature"
DEFAULT_TOLERANCE_S = 300


class ReplayGuard(Protocol):
    """Remembers deliveries already accepted until they expire; ``ReplayKeys`` backs it with a table.

    ``first_use`` must be atomic (INSERT ... ON CONFLICT DO NOTHING, then look at the row count) and, to let
    a sender retry a delivery we failed to store, run in the same transaction that stores the event: the
    webhook edge verifies with a ``DeferredReplayClaim`` and claims the key inside ``ingest``'s transaction.
    """

    def first_use(self, key: str, expires_at: datetime) -> bool: ...


class DeferredReplayClaim:
    """A ReplayGuard for an edge that stores the event after verifying: the verifier's check only looks, and
    ``claim`` takes the key atomically in the transaction that stores the event, so a store that fails leaves
    the key free and the sender's retry of the same delivery is accepted.

    The look (``in_use``) refuses an obvious replay before any mapping work (a CRM fetch); ``claim`` is what
    guarantees that two copies racing each other are accepted once.
    """

    def __init__(self, in_use: Callable[[str], bool] | None = None) -> None:
        self._in_use = in_use
        self.keys: list[tuple[str, datetime]] = []

    def first_use(self, key: str, expires_at: datetime) -> bool:
        """False when ``key`` is already taken; else remember it for ``claim``."""
        if self._in_use is not None and self._in_use(key):
            return False
        self.keys.append((key, expires_at))
        return True

    def claim(self, guard: ReplayGuard) -> None:
        """Take the remembered keys with ``guard`` (the storing transaction's); Unauthorized on a replay."""
        for key, expires_at in self.keys:
            if not guard.first_use(key, expires_at):
                raise reject("replay", "this signed request was already accepted (replay)")


class InMemoryReplayGuard:
    """A replay guard for tests and single-process use; expired keys are forgotten."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: datetime) -> bool:
        """True the first time ``key`` is seen (until it expires), False after."""
        now = self.clock.now()
        with self._lock:
            for stale in [k for k, until in self._seen.items() if until <= now]:
                del self._seen[stale]
            if key in self._seen:
                return False
            self._seen[key] = expires_at
            return True


def generic_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Nightcrew-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_generic(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Both headers a sender attaches."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: generic_signature(secret, body, timestamp)}


def verify_generic(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secrets: str | Sequence[str],
    clock: Clock,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    replay_guard: ReplayGuard | None = None,
) -> int:
    """Accept a signed request or raise Unauthorized saying why; returns the signed timestamp."""
    keys = [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
    if not keys:
        raise reject("not_configured", "no webhook signing secret is configured for this tenant")
    stamp = header(headers, TIMESTAMP_HEADER)
    if stamp is None:
        raise reject("missing_header", f"missing header {TIMESTAMP_HEADER}")
    given = header(headers, SIGNATURE_HEADER)
    if given is None:
        raise reject("missing_header", f"missing header {SIGNATURE_HEADER}")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise reject("stale_timestamp", f"{TIMESTAMP_HEADER} must be unix seconds, got {stamp[:32]!r}") from None
    if not given.startswith("sha256="):
        raise reject("bad_signature", f"{SIGNATURE_HEADER} must look like sha256=<hex>")
    if not any(same(generic_signature(key, body, timestamp), given) for key in keys):
        raise reject("bad_signature", f"{SIGNATURE_HEADER} does not match the body and timestamp")
    # Checked after the signature, so an attacker cannot learn our clock from unsigned probes.
    now = clock.now()
    age = now.timestamp() - timestamp
    if abs(age) > tolerance_s:
        when = "old" if age > 0 else "in the future"
        raise reject("stale_timestamp", f"timestamp is {abs(age):.0f} s {when}; the limit is {tolerance_s:.0f} s")
    if replay_guard is not None:
        expires = now + timedelta(seconds=tolerance_s - age + 1)
        if not replay_guard.first_use(f"generic:{given.removeprefix('sha256=')}", expires):
            raise reject("replay", "this signed request was already accepted (replay)")
    return timestamp
