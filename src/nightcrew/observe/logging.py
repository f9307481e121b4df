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
# Read before a phone number at the same position: a date or timestamp stays as written (a due time in a
# log line is what an operator debugs with), an IPv4 address is personal data of its own kind.
_NOT_A_PHONE = re.compile(
    r"(?P<when>\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)(?![\d-])"
    r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}\b)(?!\.\d)"
    r"|(?P<phone>" + _PHONE.pattern + ")"
)
_SECRET = re.compile(r"(?i)\b(sk-[a-z0-9_-]{8,}|sk-ant-[a-z0-9_-]{8,}|bearer\s+[a-z0-9._-]{8,}|[a-f0-9]{32,})\b")
# nightcrew's own API keys (crm/keys.py): "nck_" and 43 URL-safe characters. No trailing \b: a key may end in "-".
# The 10-character prefix `keys list` shows stays readable.
_NIGHTCREW_KEY = re.compile(r"\bnck_[A-Za-z0-9_-]{8,}")
_BODY_KEYS = {"text", "body", "draft", "message", "inbound", "content"}
_SECRET_KEYS = {"api_key", "authorization", "password", "secret", "token", "auth_token"}


def redact_text(value: str) -> str:
    """Mask emails, phone numbers, IPv4 addresses and things that look like keys; dates stay readable."""
    value = _NIGHTCREW_KEY.sub("[secret]", value)
    value = _SECRET.sub("[secret]", value)
    value = _EMAIL.sub("[email]", value)
    return _NOT_A_PHONE.sub(_mask_number, value)


def _mask_number(match: re.Match[str]) -> str:
    if match.group("when") is not None:
        return match.group("when")
    return "[ip]" if match.group("ip") is not None else "[phone]"


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


class _CurrentStderr:
    """A file that is whatever ``sys.stderr`` is at each write (test runners swap it and close the old one)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the process down
            self.handleError(record)


_HANDLER_NAME = "nightcrew"


_SELF_CONFIGURING_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str = "INFO", *, json_lines: bool = True, redact: bool = True) -> None:
    """Configure structlog and route stdlib logging (uvicorn, httpx, ...) through the same redacting chain."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_id,
        # Before redaction, so a traceback's text is redacted like any other field.
        structlog.processors.format_exc_info,
    ]
    if redact:
        shared.append(redacting_processor)
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    # Configuring again (tests, a command after another) replaces the handler rather than adding a second.
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # A server library that configured its own loggers (uvicorn's default dictConfig gives "uvicorn" and
    # "uvicorn.access" their own plain-text handlers and stops propagation) would bypass redaction.
    for name in _SELF_CONFIGURING_LOGGERS:
        library_logger = logging.getLogger(name)
        for existing in list(library_logger.handlers):
            library_logger.removeHandler(existing)
        library_logger.propagate = True


def get_logger(name: str = "nightcrew") -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
