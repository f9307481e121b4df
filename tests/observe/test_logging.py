"""Logs are JSON lines with request and trace ids; personal data, secrets and message bodies are redacted."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest
import structlog
import uvicorn.config
from tests.conftest import Env

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


def test_dates_stay_readable_and_ip_addresses_are_not_called_phones() -> None:
    # A due time is what an operator debugs with; the phone pattern used to eat every ISO date.
    assert redact_text("follow-up due 2026-12-04T20:00:00Z") == "follow-up due 2026-12-04T20:00:00Z"
    assert redact_text("at 2026-12-04 20:07:35.729947+00:00 for +57 300 123 4567") == (
        "at 2026-12-04 20:07:35.729947+00:00 for [phone]"
    )
    assert redact_text("('127.0.0.1', 55558) EOF received") == "('[ip]', 55558) EOF received"
    assert redact_text("call 5511987654321 or +55 11 98765-4321") == "call [phone] or [phone]"


def test_nightcrew_api_keys_in_free_text_are_redacted_but_their_listed_prefix_is_not() -> None:
    key = "nck_" + "Zx9-_aB3" * 5 + "q-w"  # the shape issue_key makes: nck_ and 43 URL-safe characters
    assert redact_text(f"retry with {key} please") == "retry with [secret] please"
    assert redact_text(f"Authorization: Bearer {key}") == "Authorization: Bearer [secret]"
    assert redact_text("key #3 prefix nck_Zx9-_a") == "key #3 prefix nck_Zx9-_a"


def test_stdlib_loggers_are_json_lines_with_the_same_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=True)
    key = "nck_" + "k" * 43
    structlog.contextvars.bind_contextvars(request_id="req-7")
    try:
        logging.getLogger("httpx").info("HTTP Request: POST https://crm.example/contacts?email=ana@example.com")
        logging.getLogger("uvicorn.error").warning("client sent %s from +57 300 123 4567", key)
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    httpx_line, uvicorn_line = lines[-2:]
    assert httpx_line == {
        "event": "HTTP Request: POST https://crm.example/contacts?email=[email]",
        "logger": "httpx",
        "level": "info",
        "request_id": "req-7",
        "timestamp": httpx_line["timestamp"],
    }
    assert uvicorn_line["event"] == "client sent [secret] from [phone]"
    assert uvicorn_line["logger"] == "uvicorn.error" and uvicorn_line["level"] == "warning"


def test_a_server_library_that_configured_its_own_handlers_still_goes_through_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What uvicorn.Config does with its default log_config: plain-text handlers, propagation stopped.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging("INFO", json_lines=True, redact=True)
    logging.getLogger("uvicorn.error").warning("client ana@example.com sent nothing")
    logging.getLogger("uvicorn.access").info("GET /contacts?email=ana@example.com 200")
    err = capsys.readouterr().err
    assert "ana@example.com" not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(line["logger"], line["event"]) for line in lines[-2:]] == [
        ("uvicorn.error", "client [email] sent nothing"),
        ("uvicorn.access", "GET /contacts?email=[email] 200"),
    ]


def test_stdlib_tracebacks_are_redacted_and_levels_filtered(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", json_lines=True, redact=True)
    try:
        logging.getLogger("httpx").info("not shown")
        try:
            raise ValueError("no contact ana@example.com")
        except ValueError:
            logging.getLogger("dbos.like").exception("step failed")
    finally:
        configure_logging("INFO", json_lines=True, redact=True)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["step failed"]
    assert "ValueError: no contact [email]" in lines[0]["exception"]
    assert "ana@example.com" not in json.dumps(lines)


def test_configuring_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=True)
    configure_logging("INFO", json_lines=True, redact=True)
    logging.getLogger("httpx").warning("once")
    assert len([line for line in capsys.readouterr().err.splitlines() if '"event": "once"' in line]) == 1


def test_dbos_logs_go_through_the_same_redacting_chain(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, redact=True)
    # DBOS (launched by the env fixture) would print its own plain lines; they reach our handler instead.
    logging.getLogger("dbos").warning("Exception encountered in step for ana@example.com")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert lines[-1]["event"] == "Exception encountered in step for [email]"
    assert lines[-1]["logger"] == "dbos"


def test_logging_follows_stderr_when_it_is_swapped_and_the_old_one_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging("INFO", json_lines=True, redact=True)
    first.close()  # what a test runner does with a test's captured stream
    monkeypatch.setattr("sys.stderr", second)
    get_logger("nightcrew.test").info("still.logging", phone="+57 300 123 4567")
    logging.getLogger("httpx").warning("and stdlib too")
    lines = [json.loads(line) for line in second.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["still.logging", "and stdlib too"]
    assert lines[0]["phone"] == "[phone]"
