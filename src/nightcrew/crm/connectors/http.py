"""The one HTTP client every CRM connector uses: timeouts, safe retries, rate limits, no secrets in logs."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from nightcrew.clock import Clock, SystemClock, ensure_utc
from nightcrew.errors import NightcrewError, NotFound
from nightcrew.observe.logging import get_logger

Sleeper = Callable[[float], None]

_log = get_logger("nightcrew.crm.http")
# Methods whose repetition leaves the CRM as one call would; POST creates things and is never among them.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_MESSAGE_LIMIT = 300


class CrmApiError(NightcrewError):
    """A CRM API call failed; ``retryable`` says whether the same call may be tried again later."""

    status_code = 502
    code = "crm_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after
        # The request may have been applied even though no answer came back (a write timed out).
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; a Retry-After beyond ``max_retry_after_s`` is handed to the caller."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers and the decoded JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any = None


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After`` as seconds or an HTTP date."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (ensure_utc(when) - ensure_utc(now)).total_seconds())


def error_message(response: httpx.Response) -> str:
    """The provider's own explanation from an error body (HubSpot, GoHighLevel and Twilio all send ``message``)."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:_MESSAGE_LIMIT]
    if isinstance(payload, dict):
        for key in ("message", "msg", "error_description", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value[:_MESSAGE_LIMIT]
            if isinstance(value, list) and value:
                return "; ".join(str(v) for v in value)[:_MESSAGE_LIMIT]
    return json.dumps(payload)[:_MESSAGE_LIMIT]


@dataclass
class ApiClient:
    """A base URL plus auth headers; ``request`` retries only what is safe to repeat."""

    base_url: str
    name: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleeper = time.sleep
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.client is None:
            self.client = httpx.Client(timeout=self.timeout_s)

    def close(self) -> None:
        """Release the connection pool."""
        if self.client is not None:
            self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """Send one logical request; retry 429 always, 5xx and lost answers only when ``idempotent``."""
        method = method.upper()
        safe = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        url = f"{self.base_url}{path}"
        assert self.client is not None
        last: CrmApiError | None = None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self.client.request(
                    method, url, params=params, json=json_body, headers=dict(self.headers), timeout=self.timeout_s
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the server: repeating it cannot apply it twice.
                last = CrmApiError(f"{self.name} unreachable: {type(exc).__name__}", retryable=True)
                self._pause(attempt, None, method, path, "unreachable")
                continue
            except httpx.TransportError as exc:
                if not safe:
                    raise CrmApiError(
                        f"{self.name} {method} {path}: no answer ({type(exc).__name__}); it may have been applied",
                        retryable=False,
                        ambiguous=True,
                    ) from exc
                last = CrmApiError(f"{self.name} {method} {path}: {type(exc).__name__}", retryable=True)
                self._pause(attempt, None, method, path, type(exc).__name__)
                continue
            status = response.status_code
            if status < 400:
                return ApiResponse(status=status, headers=response.headers, body=_json_or_none(response))
            if status == 429:
                # A rate-limited request was refused before it was processed, so even a POST may be repeated.
                wait = parse_retry_after(response.headers, self.clock.now())
                last = CrmApiError(
                    f"{self.name} rate limit on {method} {path}", retryable=True, http_status=429, retry_after=wait
                )
                if wait is not None and wait > self.retry.max_retry_after_s:
                    raise last
                self._pause(attempt, wait, method, path, "429")
                continue
            if status >= 500 or status == 408:
                if not safe:
                    raise CrmApiError(
                        f"{self.name} {method} {path} answered {status}; the write may have been applied",
                        retryable=False,
                        http_status=status,
                        ambiguous=True,
                    )
                last = CrmApiError(
                    f"{self.name} {method} {path} answered {status}",
                    retryable=True,
                    http_status=status,
                    retry_after=parse_retry_after(response.headers, self.clock.now()),
                )
                if last.retry_after is not None and last.retry_after > self.retry.max_retry_after_s:
                    raise last
                self._pause(attempt, last.retry_after, method, path, str(status))
                continue
            raise _client_error(self.name, method, path, response)
        assert last is not None
        raise last

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """GET (retried freely)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json_body: Any, *, idempotent: bool = False) -> ApiResponse:
        """POST; say ``idempotent=True`` only when repeating it cannot create a second thing."""
        return self.request("POST", path, json_body=json_body, idempotent=idempotent)

    def patch(self, path: str, json_body: Any) -> ApiResponse:
        """PATCH of absolute property values (idempotent by construction)."""
        return self.request("PATCH", path, json_body=json_body, idempotent=True)

    def put(self, path: str, json_body: Any) -> ApiResponse:
        """PUT (idempotent)."""
        return self.request("PUT", path, json_body=json_body)

    def delete(self, path: str, json_body: Any = None) -> ApiResponse:
        """DELETE (idempotent)."""
        return self.request("DELETE", path, json_body=json_body)

    def _pause(self, attempt: int, wait: float | None, method: str, path: str, why: str) -> None:
        if attempt >= self.retry.attempts:
            return
        if wait is None:
            backoff = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
            wait = backoff * (0.5 + self.rng.random() / 2)
        _log.warning("crm_retry", crm=self.name, method=method, path=path, why=why, attempt=attempt, delay_s=wait)
        self.sleep(wait)


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _client_error(name: str, method: str, path: str, response: httpx.Response) -> NightcrewError:
    status = response.status_code
    reason = error_message(response)
    if status == 404:
        return NotFound(f"{name}: {method} {path} not found ({reason})")
    if status in (401, 403):
        return CrmApiError(
            f"{name} rejected the credentials for {method} {path} ({status}: {reason}); check the token and its scopes",
            retryable=False,
            http_status=status,
        )
    return CrmApiError(f"{name} refused {method} {path} ({status}: {reason})", retryable=False, http_status=status)
