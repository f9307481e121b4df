"""Which failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

from nightcrew.ai.config import RetrySettings
from nightcrew.ai.errors import ErrorKind, ProviderError
from nightcrew.clock import ensure_utc

Sleeper = Callable[[float], None]


@lru_cache(maxsize=2)
def _sdk_errors(sdk: str) -> dict[str, tuple[type[BaseException], ...]]:
    # Imported on the first error of that SDK: an install without network models never loads the SDKs, and one
    # that talks only to OpenAI-compatible servers never pays for importing Anthropic's (seconds).
    if sdk == "anthropic":
        import anthropic as module
    else:
        import openai as module  # type: ignore[no-redef]
    return {
        "timeouts": (module.APITimeoutError,),
        "connection": (module.APIConnectionError,),
        "status": (module.APIStatusError,),
        "malformed": (module.APIResponseValidationError,),
    }


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
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


def kind_for_status(status: int) -> ErrorKind:
    """429 is rate limiting, 408 a timeout, 5xx (and Anthropic's 529) a server fault, other 4xx our fault."""
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server"
    return "rejected"


def classify_error(exc: BaseException, *, endpoint: str, now: datetime) -> ProviderError:
    """Translate an SDK exception into a ProviderError that says whether to retry."""
    if isinstance(exc, ProviderError):
        return exc
    sdk = _sdk_errors("anthropic" if type(exc).__module__.startswith("anthropic") else "openai")
    if isinstance(exc, sdk["timeouts"]):
        return ProviderError(f"{endpoint}: request timed out", endpoint=endpoint, kind="timeout")
    if isinstance(exc, sdk["connection"]):
        return ProviderError(f"{endpoint}: connection failed: {exc}", endpoint=endpoint, kind="connection")
    if isinstance(exc, sdk["status"]):
        status = int(getattr(exc, "status_code", 0))
        kind = kind_for_status(status)
        headers = getattr(getattr(exc, "response", None), "headers", {})
        retry_after = parse_retry_after(headers, now) if kind == "rate_limited" else None
        return ProviderError(
            f"{endpoint}: HTTP {status}: {_short(str(getattr(exc, 'message', exc)))}",
            endpoint=endpoint,
            kind=kind,
            status=status,
            retry_after_s=retry_after,
        )
    if isinstance(exc, sdk["malformed"]):
        return ProviderError(f"{endpoint}: malformed response: {_short(str(exc))}", endpoint=endpoint, kind="malformed")
    # Any other SDK error means the response could not be turned into an answer.
    return ProviderError(f"{endpoint}: {type(exc).__name__}: {_short(str(exc))}", endpoint=endpoint, kind="malformed")


def backoff_delay(attempt: int, settings: RetrySettings, rng: random.Random) -> float:
    """Exponential backoff for retry number ``attempt`` (0-based), shortened by up to ``jitter`` at random."""
    ceiling = min(settings.max_delay_s, settings.base_delay_s * (2.0**attempt))
    return float(ceiling * (1.0 - settings.jitter * rng.random()))


def retry_delay(error: ProviderError, attempt: int, settings: RetrySettings, rng: random.Random) -> float | None:
    """Seconds to wait before retrying after ``error``, or None when it must not be retried here."""
    if not error.retryable or error.kind == "saturated":
        return None
    if error.retry_after_s is not None:
        # Honour the server's own number; one too long to sleep through inside a step means "down".
        if error.retry_after_s > settings.max_retry_after_s:
            return None
        return error.retry_after_s
    return backoff_delay(attempt, settings, rng)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
