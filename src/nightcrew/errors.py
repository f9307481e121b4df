"""The error hierarchy: raised where detected, turned into HTTP/CLI output only at the edge."""

from __future__ import annotations

from typing import Any


class NightcrewError(Exception):
    """Base class: every error knows its HTTP status and a message an operator can act on."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Render as the JSON body of an error response."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ConfigurationError(NightcrewError):
    """Settings or playbook are invalid."""

    status_code = 500
    code = "configuration_error"


class PlaybookError(ConfigurationError):
    """The playbook file does not validate."""

    code = "playbook_invalid"


class ValidationFailed(NightcrewError):
    """Input from outside was rejected."""

    status_code = 422
    code = "validation_failed"


class NotFound(NightcrewError):
    """The thing asked for does not exist (in this tenant)."""

    status_code = 404
    code = "not_found"


class Unauthorized(NightcrewError):
    """No valid credentials."""

    status_code = 401
    code = "unauthorized"


class Forbidden(NightcrewError):
    """Valid credentials without the needed scope."""

    status_code = 403
    code = "forbidden"


class Conflict(NightcrewError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(NightcrewError):
    """The request body is over the configured limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(NightcrewError):
    """Too many requests for this key."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ChannelError(NightcrewError):
    """An outbound channel failed to deliver."""

    status_code = 502
    code = "channel_error"

    def __init__(self, message: str, *, retryable: bool, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retryable = retryable
