"""Logs are JSON lines with request and trace ids; personal data, secrets and message bodies are redacted."""

from __future__ import annotations

import json

import pytest
import structlog

from nightcrew.observe.logging import configure_logging, get_logger, redact_text


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def test_personal_data_secrets_and_bodies_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=True)
    get_logger("t").info(
        "message.sent",
        to="ana.gomez@example.com",
        phone="+52 55 1234 5678",
        api_key="nck_abcdefghijklmnop",
        text="Hola Ana, tu clase es el martes",
        note="call +573001234567 or write ana@example.com with Bearer abcdefghijklmnop1234",
        request_id="r-1",
    )
    line = last_line(capsys)
    assert line["to"] == "[email]" and line["phone"] == "[phone]"
    assert line["api_key"] == "[secret]"
    assert line["text"] == "[31 chars]"
    assert "ana@example.com" not in str(line["note"]) and "+573001234567" not in str(line["note"])
    assert "abcdefghijklmnop1234" not in str(line["note"])
    assert line["request_id"] == "r-1" and line["level"] == "info"


def test_redaction_can_be_turned_off_for_debugging(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=False)
    get_logger("t").info("x", to="ana@example.com")
    assert last_line(capsys)["to"] == "ana@example.com"
    configure_logging("INFO", json_lines=True, redact=True)


def test_context_ids_are_merged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=True)
    structlog.contextvars.bind_contextvars(request_id="req-9", trace_id="a" * 32)
    try:
        get_logger("t").warning("webhook.rejected", reason="stale")
    finally:
        structlog.contextvars.clear_contextvars()
    line = last_line(capsys)
    assert line["request_id"] == "req-9" and line["trace_id"] == "a" * 32


def test_redact_text() -> None:
    assert redact_text("mail me: a.b@x.co, phone +55 11 98765-4321") == "mail me: [email], phone [phone]"
