"""Which outside systems a tenant uses, and their secrets: Settings for the default tenant, else the tenant's own.

A tenant row's ``settings`` never holds a secret itself, only the *name* of the environment variable that
does (``{"hubspot_token_env": "ACME_HUBSPOT_TOKEN"}``), so the database can be copied without leaking keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nightcrew.config import Settings
from nightcrew.errors import ConfigurationError

_SECRETS = (
    "hubspot_token",
    "hubspot_client_secret",
    "ghl_token",
    "ghl_webhook_public_key",
    "ghl_webhook_ed25519_public_key",
    "ghl_webhook_secret",
    "twilio_auth_token",
    "smtp_password",
)
_PLAIN = (
    "crm",
    "hubspot_base_url",
    "ghl_location_id",
    "ghl_base_url",
    "twilio_account_sid",
    "twilio_from_number",
    "twilio_whatsapp_from",
    "twilio_messaging_service_sid",
    "twilio_base_url",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_from",
    "smtp_from_name",
    "public_base_url",
)


@dataclass(frozen=True)
class Integrations:
    """One tenant's CRM, messaging providers and webhook secrets, resolved."""

    crm: str = "none"
    values: Mapping[str, Any] = field(default_factory=dict)
    webhook_secrets: tuple[str, ...] = ()

    def get(self, name: str) -> Any:
        """A plain or secret value (None when not set)."""
        return self.values.get(name)

    def require(self, name: str, what: str) -> Any:
        """A value the caller cannot do without."""
        value = self.values.get(name)
        if value in (None, ""):
            raise ConfigurationError(
                f"{what} is not configured: set {name} (NIGHTCREW_{name.upper()} or the tenant's "
                f"{name}{'_env' if name in _SECRETS else ''})"
            )
        return value


def from_settings(settings: Settings) -> Integrations:
    """The single-tenant install's integrations, from NIGHTCREW_* variables."""
    values: dict[str, Any] = {name: getattr(settings, name) for name in _PLAIN}
    for name in _SECRETS:
        secret = getattr(settings, name)
        values[name] = secret.get_secret_value() if secret is not None else None
    secrets = tuple(s.get_secret_value() for s in settings.webhook_signing_secrets)
    return Integrations(crm=settings.crm, values=values, webhook_secrets=secrets)


def from_tenant(raw: Mapping[str, Any], environment: Mapping[str, str], defaults: Settings) -> Integrations:
    """A tenant's integrations from its settings row; secrets are looked up by the env variable names it gives."""
    values: dict[str, Any] = {name: raw.get(name, getattr(defaults, name)) for name in _PLAIN}
    values["crm"] = raw.get("crm", "none")
    for name in _SECRETS:
        env_name = raw.get(f"{name}_env")
        values[name] = environment.get(env_name) if env_name else None
        if env_name and not values[name]:
            raise ConfigurationError(f"tenant setting {name}_env names {env_name}, which is not set")
    secrets = tuple(environment[n] for n in raw.get("webhook_signing_secrets_env", []) if environment.get(n))
    return Integrations(crm=str(values["crm"]), values=values, webhook_secrets=secrets)
