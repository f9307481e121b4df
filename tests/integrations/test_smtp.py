"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): headers, TLS modes, auth, and error mapping."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from tests.integrations.helpers import SMTP_PASSWORD, SMTP_USER, Certificate, SmtpServer, free_port

from nightcrew.channels.base import OutboundMessage
from nightcrew.channels.smtp import SmtpTransport, message_id_for
from nightcrew.clock import FakeClock
from nightcrew.errors import ChannelError

MESSAGE = OutboundMessage(
    idempotency_key="acme:lead-7:send.first_touch",
    tenant="acme",
    channel="email",
    to="ana.gomez@example.com",
    body="Olá Ana,\n\nA aula experimental é grátis. Quer agendar?\n\nEquipe Aurora Kids",
    language="pt",
    contact_external_id="ghl:abc",
)
SUBJECTS = {"es": "Tu clase de prueba", "pt": "Sua aula experimental", "en": "Your trial class"}


def make(server: SmtpServer, clock: FakeClock, **kw: object) -> SmtpTransport:
    options: dict[str, object] = {
        "from_address": "hola@aurorakids.example",
        "from_name": "Aurora Kids",
        "reply_to": "admisiones@aurorakids.example",
        "security": "none",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "subjects": SUBJECTS,
        "list_unsubscribe": "mailto:baja@aurorakids.example",
        "clock": clock,
        "timeout_s": 5.0,
    }
    options.update(kw)
    return SmtpTransport("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def received(server: SmtpServer, index: int = -1) -> EmailMessage:
    envelope = server.capture.envelopes[index]
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_delivery_carries_the_right_headers_and_a_stable_message_id(smtp_server: SmtpServer, clock: FakeClock) -> None:
    transport = make(smtp_server, clock)
    first = transport.send(MESSAGE)
    second = transport.send(MESSAGE)
    assert (
        first.provider_message_id
        == second.provider_message_id
        == message_id_for(MESSAGE.idempotency_key, "aurorakids.example")
    )
    assert smtp_server.capture.logins == [SMTP_USER, SMTP_USER]
    envelope = smtp_server.capture.envelopes[0]
    assert envelope.mail_from == "hola@aurorakids.example" and envelope.rcpt_tos == ["ana.gomez@example.com"]
    mail = received(smtp_server, 0)
    assert mail["From"] == "Aurora Kids <hola@aurorakids.example>"
    assert mail["To"] == "ana.gomez@example.com"
    assert mail["Subject"] == "Sua aula experimental"
    assert mail["Reply-To"] == "admisiones@aurorakids.example"
    assert mail["Content-Language"] == "pt"
    assert mail["List-Unsubscribe"] == "<mailto:baja@aurorakids.example>"
    assert mail["Date"] == "Mon, 05 Jan 2026 12:00:00 +0000"
    assert mail["Message-ID"] == received(smtp_server, 1)["Message-ID"] == first.provider_message_id
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert mail.get_content().replace("\r\n", "\n").strip() == MESSAGE.body  # SMTP lines end in CRLF


def test_the_message_subject_wins_over_the_language_default(smtp_server: SmtpServer, clock: FakeClock) -> None:
    own = OutboundMessage(**{**MESSAGE.__dict__, "subject": "Confirmação da aula", "idempotency_key": "k2"})
    make(smtp_server, clock).send(own)
    assert received(smtp_server)["Subject"] == "Confirmação da aula"
    german = OutboundMessage(**{**MESSAGE.__dict__, "language": "de"})
    with pytest.raises(ChannelError, match="no email subject"):
        make(smtp_server, clock).send(german)


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_with_login(smtp_server: SmtpServer, clock: FakeClock, certificate: Certificate) -> None:
    make(smtp_server, clock, security="starttls", ssl_context=certificate.client_context()).send(MESSAGE)
    assert received(smtp_server)["Subject"] == "Sua aula experimental"
    with pytest.raises(ChannelError) as untrusted:
        make(smtp_server, clock, security="starttls").send(MESSAGE)
    assert not untrusted.value.retryable and "TLS" in untrusted.value.message
    with pytest.raises(ChannelError) as plain:
        make(smtp_server, clock, security="none").send(MESSAGE)
    assert not plain.value.retryable  # the server demands STARTTLS before anything: configuration, not weather


@pytest.mark.parametrize("smtp_server", ["ssl"], indirect=True)
def test_implicit_tls(smtp_server: SmtpServer, clock: FakeClock, certificate: Certificate) -> None:
    make(smtp_server, clock, security="ssl", ssl_context=certificate.client_context()).send(MESSAGE)
    assert len(smtp_server.capture.envelopes) == 1


def test_smtp_errors_map_to_retryable_or_not(smtp_server: SmtpServer, clock: FakeClock) -> None:
    smtp_server.capture.refuse = {
        "gone@example.com": "550 5.1.1 No such user",
        "busy@example.com": "451 4.3.0 Try again later",
    }
    cases = {"gone@example.com": False, "busy@example.com": True}
    for address, retryable in cases.items():
        with pytest.raises(ChannelError) as info:
            make(smtp_server, clock).send(OutboundMessage(**{**MESSAGE.__dict__, "to": address}))
        assert info.value.retryable is retryable
    with pytest.raises(ChannelError) as login:
        make(smtp_server, clock, password="wrong").send(MESSAGE)
    assert not login.value.retryable and "login rejected" in login.value.message
    with pytest.raises(ChannelError) as down:
        SmtpTransport("127.0.0.1", free_port(), from_address="a@b.example", security="none", default_subject="x").send(
            MESSAGE
        )
    assert down.value.retryable
    with pytest.raises(ChannelError) as not_email:
        make(smtp_server, clock).send(OutboundMessage(**{**MESSAGE.__dict__, "to": "not an address"}))
    assert not not_email.value.retryable
    assert SMTP_PASSWORD not in repr(make(smtp_server, clock))
