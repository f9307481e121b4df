"""The one typed Settings object. No other module reads the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_executor_id() -> str:
    # Stable across restarts of the same machine, so DBOS recovers this process's own workflows.
    return f"{socket.gethostname()}"


class Settings(BaseSettings):
    """Everything configurable, read from ``NIGHTCREW_*`` environment variables (or a .env file)."""

    model_config = SettingsConfigDict(env_prefix="NIGHTCREW_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./nightcrew.db"
    playbook: Path | None = None
    api_key: SecretStr | None = None
    default_tenant: str = "default"

    executor_id: str = Field(default_factory=_default_executor_id)
    application_version: str = "nightcrew-1"
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    queue_polling_interval: float = Field(default=0.2, gt=0)
    sweep_interval_seconds: int = Field(default=60, ge=5)
    # Liveness of worker processes (wall-clock): beat this often; another worker takes over after this long.
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    executor_dead_after_s: float = Field(default=30.0, gt=0)
    # How fast work that waited for a model drains once it is back (workflows started per second).
    llm_queue_rate_per_second: int = Field(default=5, ge=1)

    outbound_file: Path = Path("./nightcrew-outbox.jsonl")
    outbound_webhook_url: str | None = None
    outbound_webhook_secret: SecretStr | None = None
    outbound_channel: Literal["file", "webhook", "console"] = "file"
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    max_batch_events: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    rate_limit_burst: int | None = Field(default=None, ge=1)
    # Where the per-key buckets live: "database" shares them between API processes; "auto" picks it on PostgreSQL.
    rate_limit_store: Literal["auto", "memory", "database"] = "auto"

    trace_exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str | None = None
    # A `nightcrew worker` serves /metrics on this port (off by default; the API serves its own on its port).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Integrations of the single-tenant install (a multi-tenant install sets them per tenant; see tenants set).
    public_base_url: str | None = None
    webhook_signing_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    webhook_tolerance_s: int = Field(default=300, ge=10)
    crm: Literal["none", "hubspot", "gohighlevel"] = "none"
    crm_timeout_s: float = Field(default=15.0, gt=0)
    hubspot_token: SecretStr | None = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_base_url: str = "https://api.hubapi.com"
    ghl_token: SecretStr | None = None
    ghl_location_id: str | None = None
    ghl_webhook_public_key: SecretStr | None = None
    ghl_webhook_ed25519_public_key: SecretStr | None = None
    ghl_webhook_secret: SecretStr | None = None
    ghl_base_url: str = "https://services.leadconnectorhq.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_from_name: str | None = None

    log_level: str = "INFO"
    log_json: bool = True
    redact_logs: bool = True

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not (value.startswith("sqlite") or value.startswith("postgresql+psycopg://")):
            raise ValueError("database_url must be sqlite:///PATH or postgresql://USER@HOST/DB")
        return value

    @field_validator("webhook_signing_secrets", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # NIGHTCREW_WEBHOOK_SIGNING_SECRETS="old,new" during a rotation.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def is_sqlite(self) -> bool:
        """Whether the embedded default database is in use."""
        return self.database_url.startswith("sqlite")

    def environment(self) -> dict[str, str]:
        """The process environment, for settings that name another variable (provider API keys)."""
        return dict(os.environ)
