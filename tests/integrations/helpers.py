"""Shared pieces of the integration tests: the playbook's crm: section, a recording sleeper, SMTP and TLS helpers."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

PLAYBOOK_CRM = """
crm:
  hubspot:
    fields:
      - {source: [firstname, lastname], target: name}
      - {source: email, target: email}
      - {source: phone, target: phone, type: phone, region: MX}
      - {source: hs_language, target: language, type: language}
      - {source: city, target: location}
      - {source: child_age, target: fields.child_age, type: int}
      - source: inquiry_type
        target: fields.inquiry_type
        type: enum
        values: {"Coding course": coding_course, "Robotics": robotics, "English": english_course}
      - {source: asked_price, target: fields.asked_price, type: bool, default: false}
    stages:
      object: contact
      property: lifecyclestage
      to_crm: {new: lead, engaged: marketingqualifiedlead, trial_booked: opportunity, enrolled: customer}
      from_crm: {subscriber: new}
    segment: {property: nightcrew_segment}
    owners: {admissions-es: "512345", admissions-pt: "512346"}
  gohighlevel:
    fields:
      - {source: [firstName, lastName], target: name}
      - {source: email, target: email}
      - {source: phone, target: phone, type: phone}
      - {source: city, target: location}
      - {source: timezone, target: timezone}
      - {source: customFields.Xq7Ch1dAge, target: fields.child_age, type: int, required: true}
      - {source: source, target: fields.source}
    stages:
      object: opportunity
      pipeline_id: VDm7RPYC2GLUvdpKmBfC
      to_crm: {new: stage-new, trial_booked: stage-trial, enrolled: stage-won}
    segment: {tag_prefix: "segment:"}
    owners: {admissions-es: YlWd2wuCAZQzh2cH1fVZ}
"""


@dataclass
class Sleeps:
    """A sleeper that records the waits it was asked for instead of sleeping."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class SmtpCapture:
    """What the SMTP server received, and how it should answer RCPT."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running aiosmtpd server."""

    port: int
    capture: SmtpCapture
    controller: Controller


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (aiosmtpd needs a concrete port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and the contexts trusting it."""

    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_path))


def make_certificate(folder: Path) -> Certificate:
    """A fresh self-signed certificate (valid by the real clock, which TLS checks)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(cert_path, key_path)


SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-pass"


def authenticator(capture: SmtpCapture) -> Any:
    """An aiosmtpd authenticator accepting SMTP_USER / SMTP_PASSWORD and recording each login."""

    def check(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            capture.logins.append(auth_data.login.decode())
            ok = auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
            # handled=False makes aiosmtpd answer 535 itself; True would mean "already answered".
            return AuthResult(success=ok, handled=ok)
        return AuthResult(success=False, handled=False)

    return check
