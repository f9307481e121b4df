"""structlog set-up: JSON lines with request and trace ids; personal data and secrets redacted by default."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from nightcrew.observe.tracing import current_trace_id

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{7,}\d")
_SECRET = re.compile(r"(?i)\b(sk-[a-z0-9_-]{8,}|sk-ant-[a-z0-9_-]{8,}|bearer\s+[a-z0-9._-]{8,}|[a-f0-9]{32,})\b")
_BODY_KEYS = {"text", "body", "draft", "message", "inbound", "content"}
_SECRET_KEYS = {"api_key", "authorization", "password", "secret", "token", "auth_token"}


def redact_text(value: str) -> str:
    """Mask emails, phone numbers and things that look like keys."""
    value = _SECRET.sub("[secret]", value)
    value = _EMAIL.sub("[email]", value)
    return _PHONE.sub("[phone]", value)


def _redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in _SECRET_KEYS:
        return "[secret]"
    if key is not None and key.lower() in _BODY_KEYS and isinstance(value, str):
        return f"[{len(value)} chars]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redacting_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every field except the log level and timestamps."""
    for key in list(event_dict):
        if key in ("level", "timestamp", "logger", "trace_id", "request_id"):
            continue
        event_dict[key] = _redact(event_dict[key], key)
    return event_dict


def _add_trace_id(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    trace_id = current_trace_id()
    if trace_id and "trace_id" not in event_dict:
        event_dict["trace_id"] = trace_id
    return event_dict


def configure_logging(level: str = "INFO", *, json_lines: bool = True, redact: bool = True) -> None:
    """Configure structlog and route stdlib logging through it."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_id,
    ]
    if redact:
        processors.append(redacting_processor)
    processors.append(structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")


def get_logger(name: str = "nightcrew") -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
