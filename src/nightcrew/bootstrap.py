"""The composition root: builds every service from Settings. Tests build it with fakes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nightcrew.ai.repository import DatabaseBreakers, DatabaseLedger
from nightcrew.ai.router import ModelRouter
from nightcrew.channels.base import Transport
from nightcrew.channels.router import TransportRouter
from nightcrew.channels.smtp import SmtpTransport
from nightcrew.channels.transports import ConsoleTransport, FileTransport, WebhookTransport
from nightcrew.channels.twilio import TwilioTransport
from nightcrew.clock import Clock, SystemClock
from nightcrew.compose.templates import TemplateComposer
from nightcrew.config import Settings
from nightcrew.crm.connectors.base import CrmConnector
from nightcrew.crm.connectors.gohighlevel import GoHighLevelConnector
from nightcrew.crm.connectors.hubspot import HubSpotConnector
from nightcrew.crm.models import Tenant
from nightcrew.crm.repository import StageRepository, TenantRepository
from nightcrew.crm.service import ContactService
from nightcrew.db import is_unique_violation, make_engine, make_session_factory, transaction
from nightcrew.errors import NotFound
from nightcrew.guardrails.policy import PolicySet
from nightcrew.integrations import Integrations, from_settings, from_tenant

if TYPE_CHECKING:
    from nightcrew.intelligence.intents import IntentModel
from nightcrew.intelligence.service import DatabaseModelRegistry, ModelRegistryService
from nightcrew.observe.tracing import configure_tracing
from nightcrew.playbook import Playbook, load_playbook
from nightcrew.review.service import ReviewService


@dataclass(frozen=True)
class TenantRef:
    """The few facts about a tenant that travel through workflows."""

    id: int
    slug: str
    name: str
    playbook_path: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)


class Container:
    """Every long-lived service of one process, built once from Settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transports: TransportRouter | None = None,
        engine: Engine | None = None,
        sleeper: Callable[[float], None] | None = None,
        wall_clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        # Spans always get real ids (stored on every action); exporting them is configuration.
        configure_tracing(settings.trace_exporter, settings.otlp_endpoint)
        self.clock: Clock = clock or SystemClock()
        # Liveness (heartbeats, which executor is dead) is about real processes: it never follows a simulated
        # clock, only a wall clock (tests give a FakeClock here to make a heartbeat lapse at once).
        self.wall_clock: Clock = wall_clock or SystemClock()
        self.engine = engine or make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.transports = transports or default_transports(settings)
        # A transport router given by the caller (tests, the demo) carries every tenant's messages.
        self.transports_overridden = transports is not None
        self._tenant_transports: dict[str, TransportRouter] = {}
        self.ledger = DatabaseLedger(self.sessions)
        # Breakers live in each process; their transitions go to the database so any process can show them.
        self.breakers = DatabaseBreakers(self.sessions, settings.executor_id)
        # Retry back-off sleeps; a fast-forwarded clock has no use for real waiting.
        self.sleeper: Callable[[float], None] = sleeper or (
            time.sleep if isinstance(self.clock, SystemClock) else _no_wait
        )
        self._routers: dict[str, ModelRouter] = {}
        self.contacts = ContactService()
        self.models = DatabaseModelRegistry(self.sessions)
        self.registry = ModelRegistryService()
        self.review = ReviewService()
        self._policies: dict[str, PolicySet] = {}
        self._playbooks: dict[str, Playbook] = {}
        self._composers: dict[str, TemplateComposer] = {}
        self._tenants: dict[str, TenantRef] = {}
        self._lock = threading.Lock()

    # Tenants -------------------------------------------------------------------------------
    def tenant(self, slug: str) -> TenantRef:
        """The tenant called ``slug`` (cached; tenants are never renamed)."""
        with self._lock:
            cached = self._tenants.get(slug)
        if cached is not None:
            return cached
        with transaction(self.sessions) as session:
            row = TenantRepository(session).by_slug(slug)
            if row is None:
                raise NotFound(f"tenant {slug!r} does not exist")
            ref = TenantRef(row.id, row.slug, row.name, row.playbook_path, dict(row.settings or {}))
        with self._lock:
            self._tenants[slug] = ref
        return ref

    def tenant_by_id(self, tenant_id: int) -> TenantRef:
        """The tenant with this id."""
        with self._lock:
            for ref in self._tenants.values():
                if ref.id == tenant_id:
                    return ref
        with transaction(self.sessions) as session:
            row = TenantRepository(session).get(tenant_id)
            if row is None:
                raise NotFound(f"tenant #{tenant_id} does not exist")
            slug = row.slug
        return self.tenant(slug)

    def ensure_tenant(
        self,
        slug: str,
        name: str | None = None,
        playbook_path: Path | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> TenantRef:
        """Create the tenant if missing (or update its playbook and settings) and sync its pipeline.

        Several processes starting at once on a fresh database all do this: the one that loses the race to
        insert the tenant (or its stages) reads what the winner wrote and goes on.
        """
        for attempt in range(3):
            try:
                return self._ensure_tenant_once(slug, name, playbook_path, settings)
            except IntegrityError as exc:
                if not is_unique_violation(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _ensure_tenant_once(
        self,
        slug: str,
        name: str | None,
        playbook_path: Path | None,
        settings: Mapping[str, Any] | None,
    ) -> TenantRef:
        with transaction(self.sessions) as session:
            tenants = TenantRepository(session)
            row = tenants.by_slug(slug)
            if row is None:
                row = tenants.add(
                    Tenant(
                        slug=slug,
                        name=name or slug,
                        playbook_path=str(playbook_path) if playbook_path else None,
                        settings={},
                        created_at=self.clock.now(),
                    )
                )
            elif playbook_path is not None and row.playbook_path != str(playbook_path):
                row.playbook_path = str(playbook_path)
            if settings:
                row.settings = {**(row.settings or {}), **settings}
            ref = TenantRef(row.id, row.slug, row.name, row.playbook_path, dict(row.settings or {}))
            playbook = self._load_playbook(ref)
            StageRepository(session, row.id).replace_pipeline([(s.name, s.kind) for s in playbook.stages])
        with self._lock:
            self._tenants[slug] = ref
        return ref

    # Playbooks -----------------------------------------------------------------------------
    def _playbook_source(self, tenant: TenantRef) -> Path | None:
        if tenant.playbook_path:
            return Path(tenant.playbook_path)
        return self.settings.playbook

    def _load_playbook(self, tenant: TenantRef) -> Playbook:
        key = str(self._playbook_source(tenant) or "<sample>")
        with self._lock:
            cached = self._playbooks.get(key)
        if cached is None:
            cached = load_playbook(self._playbook_source(tenant))
            with self._lock:
                self._playbooks[key] = cached
        return cached

    def playbook(self, tenant: TenantRef) -> Playbook:
        """The tenant's validated playbook (its own file, else NIGHTCREW_PLAYBOOK, else the sample)."""
        return self._load_playbook(tenant)

    def policy(self, tenant: TenantRef) -> PolicySet:
        """The guardrail policy read from the tenant's playbook."""
        playbook = self.playbook(tenant)
        key = str(playbook.base_dir)
        with self._lock:
            policy = self._policies.get(key)
            if policy is None:
                policy = PolicySet.from_playbook(playbook)
                self._policies[key] = policy
            return policy

    def integrations(self, tenant: TenantRef) -> Integrations:
        """The tenant's CRM, messaging providers and webhook secrets."""
        if tenant.slug == self.settings.default_tenant and not tenant.settings:
            return from_settings(self.settings)
        return from_tenant(tenant.settings, self.settings.environment(), self.settings)

    def transports_for(self, tenant: TenantRef) -> TransportRouter:
        """The transports of the tenant's channels: Twilio for SMS/WhatsApp and SMTP for email when configured."""
        if self.transports_overridden:
            return self.transports
        integrations = self.integrations(tenant)
        key = f"transports:{tenant.slug}"
        with self._lock:
            cached = self._tenant_transports.get(key)
        if cached is not None:
            return cached
        per_channel: dict[str, Transport] = {}
        if integrations.get("twilio_account_sid") and integrations.get("twilio_auth_token"):
            base = integrations.get("public_base_url")
            twilio = TwilioTransport(
                integrations.get("twilio_account_sid"),
                integrations.get("twilio_auth_token"),
                from_number=integrations.get("twilio_from_number"),
                whatsapp_from=integrations.get("twilio_whatsapp_from"),
                messaging_service_sid=integrations.get("twilio_messaging_service_sid"),
                status_callback=f"{base.rstrip('/')}/v1/hooks/twilio/{tenant.slug}" if base else None,
                base_url=integrations.get("twilio_base_url"),
                clock=self.clock,
            )
            per_channel.update(sms=twilio, whatsapp=twilio)
        if integrations.get("smtp_host") and integrations.get("smtp_from"):
            per_channel["email"] = SmtpTransport(
                integrations.get("smtp_host"),
                int(integrations.get("smtp_port") or 587),
                from_address=integrations.get("smtp_from"),
                from_name=integrations.get("smtp_from_name"),
                security=integrations.get("smtp_security") or "starttls",
                username=integrations.get("smtp_username"),
                password=integrations.get("smtp_password"),
                clock=self.clock,
            )
        router = TransportRouter(self.transports.default, per_channel) if per_channel else self.transports
        with self._lock:
            self._tenant_transports[key] = router
        return router

    def crm_connector(self, tenant: TenantRef) -> CrmConnector | None:
        """The tenant's CRM connector (None when it keeps its contacts only in nightcrew)."""
        integrations = self.integrations(tenant)
        mappings = self.playbook(tenant).crm
        if integrations.crm == "hubspot":
            return HubSpotConnector.connect(
                integrations.require("hubspot_token", "HubSpot"),
                mappings.for_crm("hubspot"),
                base_url=integrations.get("hubspot_base_url"),
                clock=self.clock,
                sleep=self.sleeper,
                timeout_s=self.settings.crm_timeout_s,
            )
        if integrations.crm == "gohighlevel":
            return GoHighLevelConnector.connect(
                integrations.require("ghl_token", "GoHighLevel"),
                integrations.require("ghl_location_id", "GoHighLevel"),
                mappings.for_crm("gohighlevel"),
                base_url=integrations.get("ghl_base_url"),
                clock=self.clock,
                sleep=self.sleeper,
                timeout_s=self.settings.crm_timeout_s,
            )
        return None

    def router(self, tenant: TenantRef) -> ModelRouter:
        """The model router for the tenant's playbook (breakers live here, one set per process)."""
        playbook = self.playbook(tenant)
        key = str(playbook.base_dir)
        with self._lock:
            router = self._routers.get(key)
            if router is None:
                policy = playbook.routing
                router = ModelRouter(
                    policy,
                    env=self.settings.environment(),
                    clock=self.clock,
                    sink=self.ledger,
                    spend=self.ledger if policy.budgets.enabled else None,
                    sleeper=self.sleeper,
                    breakers=self.breakers,
                )
                self._routers[key] = router
            return router

    def routers(self) -> list[ModelRouter]:
        """Every router built so far (for health and metrics)."""
        with self._lock:
            return list(self._routers.values())

    def intent_model(self, tenant: TenantRef) -> IntentModel:
        """The tenant's active intent model: its own trained one, else the bundled default."""
        from nightcrew.intelligence.intents import default_intent_model

        return self.models.active_intent_model(tenant) or default_intent_model()

    def composer(self, tenant: TenantRef) -> TemplateComposer:
        """The template composer over the tenant's playbook."""
        playbook = self.playbook(tenant)
        key = str(playbook.base_dir)
        with self._lock:
            composer = self._composers.get(key)
            if composer is None:
                composer = TemplateComposer(playbook)
                self._composers[key] = composer
            return composer

    def close(self) -> None:
        """Release database connections and provider clients."""
        for router in self.routers():
            router.close()
        self.engine.dispose()


def _no_wait(_seconds: float) -> None:
    """A sleeper for simulated time: back-off is modelled, not waited for."""


def default_transports(settings: Settings) -> TransportRouter:
    """The transports Settings ask for: a webhook when NIGHTCREW_OUTBOUND_WEBHOOK_URL is set, else the file."""
    default: Transport
    if settings.outbound_webhook_url:
        secret = settings.outbound_webhook_secret.get_secret_value() if settings.outbound_webhook_secret else None
        default = WebhookTransport(settings.outbound_webhook_url, secret=secret, timeout_s=settings.webhook_timeout_s)
    elif settings.outbound_channel == "console":
        default = ConsoleTransport()
    else:
        default = FileTransport(settings.outbound_file)
    return TransportRouter(default)


def build_container(
    settings: Settings | None = None, *, clock: Clock | None = None, transports: TransportRouter | None = None
) -> Container:
    """Build the process's services and make sure the default tenant exists."""
    settings = settings or Settings()
    container = Container(settings, clock=clock, transports=transports)
    return container
