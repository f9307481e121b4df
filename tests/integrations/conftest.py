"""Fixtures for the integration library: fake CRM/Twilio servers on 127.0.0.1, a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from tests.fakes.crm_servers import FakeGoHighLevel, FakeHubSpot, FakeTwilio
from tests.integrations.helpers import (
    PLAYBOOK_CRM,
    START,
    Certificate,
    Sleeps,
    SmtpCapture,
    SmtpServer,
    authenticator,
    free_port,
    make_certificate,
)

from nightcrew.clock import FakeClock
from nightcrew.crm.mapping import CrmSettings


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when told to."""
    return FakeClock(START)


@pytest.fixture
def sleeps() -> Sleeps:
    """Recorded sleeps."""
    return Sleeps()


@pytest.fixture(scope="session")
def crm_settings() -> CrmSettings:
    """The playbook's crm: section, loaded from YAML like the playbook loader does."""
    return CrmSettings.model_validate(yaml.safe_load(PLAYBOOK_CRM)["crm"])


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    """A HubSpot-shaped server."""
    server = FakeHubSpot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ghl() -> Iterator[FakeGoHighLevel]:
    """A GoHighLevel-shaped server."""
    server = FakeGoHighLevel()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """A Twilio-shaped server."""
    server = FakeTwilio()
    server.start()
    yield server
    server.stop()


# ----------------------------------------------------------------------------------------------------- SMTP


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """Generate the certificate once per session."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1; ``request.param`` picks plain (with AUTH), starttls or ssl."""
    mode = getattr(request, "param", "plain")
    capture = SmtpCapture()
    port = free_port()
    # aiosmtpd only counts STARTTLS as TLS for AUTH, so implicit TLS must not demand it.
    options: dict[str, Any] = {"authenticator": authenticator(capture), "auth_require_tls": mode == "starttls"}
    if mode == "starttls":
        options.update(tls_context=certificate.server_context(), require_starttls=True)
    elif mode == "ssl":
        options.update(ssl_context=certificate.server_context())
    controller = Controller(capture, hostname="127.0.0.1", port=port, ready_timeout=5, **options)
    controller.start()
    yield SmtpServer(port=port, capture=capture, controller=controller)
    controller.stop()
