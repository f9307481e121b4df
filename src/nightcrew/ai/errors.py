"""Errors of the model layer: what failed, whether waiting helps, and the attempts already recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from nightcrew.errors import NightcrewError

if TYPE_CHECKING:
    from nightcrew.ai.ledger import CallRecord

ErrorKind = Literal["rate_limited", "server", "timeout", "connection", "malformed", "saturated", "rejected"]

# Kinds that say "this endpoint is unwell right now": they count towards its circuit breaker.
ENDPOINT_FAULTS: frozenset[str] = frozenset({"rate_limited", "server", "timeout", "connection", "malformed"})


class AIError(NightcrewError):
    """Base class of the model layer's errors."""

    status_code = 502
    code = "ai_error"


class ProviderError(AIError):
    """One request to one endpoint failed; ``kind`` says whether trying again can help."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        kind: ErrorKind,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, details={"endpoint": endpoint, "kind": kind, "status": status})
        self.endpoint = endpoint
        self.kind: ErrorKind = kind
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """A 4xx input error repeats identically; everything else may pass on a later attempt."""
        return self.kind != "rejected"

    @property
    def endpoint_fault(self) -> bool:
        """Whether the failure says the endpoint is unwell (and so counts towards its breaker)."""
        return self.kind in ENDPOINT_FAULTS


class _RoutedError(AIError):
    """An error raised after routing gave up; carries every attempt it made."""

    def __init__(self, message: str, *, task: str, records: Sequence[CallRecord] = (), details: Any = None) -> None:
        super().__init__(message, details=details)
        self.task = task
        self.records: tuple[CallRecord, ...] = tuple(records)


class TierUnavailable(_RoutedError):
    """Every endpoint the playbook allows for a task is down: wait (durably) and try again at ``retry_at``."""

    status_code = 503
    code = "tier_unavailable"

    def __init__(
        self,
        message: str,
        *,
        task: str,
        tiers: Sequence[str],
        retry_at: datetime,
        records: Sequence[CallRecord] = (),
    ) -> None:
        super().__init__(
            message,
            task=task,
            records=records,
            details={"tiers": list(tiers), "retry_at": retry_at.isoformat()},
        )
        self.tiers = tuple(tiers)
        self.retry_at = retry_at


class RequestRejected(_RoutedError):
    """Every endpoint tried refused the request as invalid (4xx): waiting will not help."""

    code = "ai_request_rejected"


class InvalidModelOutput(_RoutedError):
    """The model's structured output failed validation twice (once after being told why)."""

    code = "ai_invalid_output"

    def __init__(self, message: str, *, task: str, raw: str, error: str, records: Sequence[CallRecord] = ()) -> None:
        super().__init__(message, task=task, records=records, details={"error": error})
        self.raw = raw
        self.error = error


class StructuredOutputError(AIError):
    """One model answer did not parse into the expected schema."""

    code = "ai_structured_output"

    def __init__(self, message: str, *, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class BudgetExceeded(_RoutedError):
    """The tenant's daily budget is spent and the work may not go local: wait until ``retry_at``."""

    status_code = 402
    code = "ai_budget_exceeded"

    def __init__(self, message: str, *, task: str, retry_at: datetime, records: Sequence[CallRecord] = ()) -> None:
        super().__init__(message, task=task, records=records, details={"retry_at": retry_at.isoformat()})
        self.retry_at = retry_at
