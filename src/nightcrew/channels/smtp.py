"""Email over SMTP (stdlib smtplib): STARTTLS, implicit TLS or plain, optional login.

The Message-ID is derived from the idempotency key, so a resend after a crash carries the same id and mail
systems (and people) can recognise it as the same message rather than a new one.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

from nightcrew.channels.base import Delivery, OutboundMessage
from nightcrew.clock import Clock, SystemClock
from nightcrew.errors import ChannelError

Security = Literal["starttls", "ssl", "none"]


def message_id_for(idempotency_key: str, domain: str) -> str:
    """The Message-ID a message with this idempotency key always carries."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


class SmtpTransport:
    """Sends ``email`` messages through one SMTP server."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        from_address: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        subjects: Mapping[str, str] | None = None,
        default_subject: str | None = None,
        list_unsubscribe: str | None = None,
        message_id_domain: str | None = None,
        timeout_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if "@" not in from_address:
            raise ValueError("from_address must be an email address")
        self.host = host
        self.port = port
        self.from_address = from_address
        self.from_name = from_name
        self.reply_to = reply_to
        self.security = security
        self.username = username
        self._password = password
        self.subjects = dict(subjects or {})
        self.default_subject = default_subject
        self.list_unsubscribe = list_unsubscribe
        self.domain = message_id_domain or from_address.rsplit("@", 1)[1]
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname
        self.clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"SmtpTransport(host={self.host!r}, port={self.port}, security={self.security!r})"

    def subject_for(self, message: OutboundMessage) -> str:
        """The message's own subject, else the one for its language, else the default."""
        subject = message.subject or self.subjects.get(message.language) or self.default_subject
        if not subject:
            raise ChannelError(f"no email subject for language {message.language!r}", retryable=False)
        return subject

    def build(self, message: OutboundMessage) -> EmailMessage:
        """The email as it will be sent."""
        if message.channel != "email":
            raise ChannelError(f"SMTP carries email, not {message.channel}", retryable=False)
        try:
            recipient = Address(addr_spec=message.to)
        except (ValueError, IndexError) as exc:
            raise ChannelError(f"not an email address: {message.to!r}", retryable=False) from exc
        email = EmailMessage()
        email["From"] = formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address
        email["To"] = str(recipient)
        email["Subject"] = self.subject_for(message)
        email["Date"] = format_datetime(self.clock.now())
        email["Message-ID"] = message_id_for(message.idempotency_key, self.domain)
        if self.reply_to:
            email["Reply-To"] = self.reply_to
        if self.list_unsubscribe:
            email["List-Unsubscribe"] = f"<{self.list_unsubscribe}>"
        email.set_content(message.body, charset="utf-8")
        # After set_content, which replaces every Content-* header.
        email["Content-Language"] = message.language
        return email

    def send(self, message: OutboundMessage) -> Delivery:
        """Deliver through the server; 4xx replies and lost connections are retryable, 5xx are not."""
        email = self.build(message)
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(email, from_addr=self.from_address, to_addrs=[message.to])
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(
                f"SMTP login rejected ({exc.smtp_code}); check the SMTP credentials", retryable=False
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code = min((reply[0] for reply in exc.recipients.values()), default=550)
            raise ChannelError(f"SMTP refused the recipient ({code})", retryable=400 <= code < 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(
                f"SMTP answered {exc.smtp_code}: {_reply(exc.smtp_error)}", retryable=400 <= exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(f"SMTP server does not support what is configured: {exc}", retryable=False) from exc
        except ssl.SSLError as exc:
            raise ChannelError(f"TLS with the SMTP server failed: {exc.reason or exc}", retryable=False) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise ChannelError(f"SMTP server {self.host}:{self.port} unreachable: {exc}", retryable=True) from exc
        return Delivery(transport=self.name, provider_message_id=str(email["Message-ID"]), status="sent")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout_s,
                context=self.ssl_context,
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout_s)


def _reply(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())[:200]
