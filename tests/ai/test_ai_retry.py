"""Error classification and backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx2
import openai
import pytest

from nightcrew.ai.config import RetrySettings
from nightcrew.ai.errors import ProviderError
from nightcrew.ai.retry import backoff_delay, classify_error, parse_retry_after, retry_delay

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_retry_after_in_seconds_milliseconds_or_as_a_date() -> None:
    assert parse_retry_after({"retry-after": "7"}, NOW) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5
    assert parse_retry_after({"retry-after": "Mon, 05 Jan 2026 12:00:42 GMT"}, NOW) == 42.0
    assert parse_retry_after({"retry-after": "soon"}, NOW) is None
    assert parse_retry_after({}, NOW) is None


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(429, "rate_limited", True), (500, "server", True), (503, "server", True), (529, "server", True),
     (408, "timeout", True), (400, "rejected", False), (401, "rejected", False), (422, "rejected", False)],
)  # fmt: skip
def test_status_codes_are_classified(status: int, kind: str, retryable: bool) -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, headers={"retry-after": "3"}, request=request)
    error = classify_error(openai.APIStatusError("boom", response=response, body=None), endpoint="ep", now=NOW)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert error.retry_after_s == (3.0 if status == 429 else None)


def test_timeouts_and_connection_errors_are_retryable() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    assert classify_error(openai.APITimeoutError(request), endpoint="ep", now=NOW).kind == "timeout"
    assert classify_error(openai.APIConnectionError(request=request), endpoint="ep", now=NOW).kind == "connection"


def test_backoff_grows_is_capped_and_jittered() -> None:
    settings = RetrySettings(base_delay_s=0.5, max_delay_s=4.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [backoff_delay(attempt, settings, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_retry_delay_honours_retry_after_and_refuses_input_errors() -> None:
    settings = RetrySettings(max_retry_after_s=30)
    rng = random.Random(1)
    limited = ProviderError("429", endpoint="ep", kind="rate_limited", retry_after_s=12.0)
    assert retry_delay(limited, 0, settings, rng) == 12.0
    too_long = ProviderError("429", endpoint="ep", kind="rate_limited", retry_after_s=31.0)
    assert retry_delay(too_long, 0, settings, rng) is None
    assert retry_delay(ProviderError("400", endpoint="ep", kind="rejected"), 0, settings, rng) is None
    assert retry_delay(ProviderError("busy", endpoint="ep", kind="saturated"), 0, settings, rng) is None
