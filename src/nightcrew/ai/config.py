"""The routing policy as data: tiers of endpoints, which tier each task uses, fallbacks and budgets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from nightcrew.errors import ConfigurationError

ProviderName = Literal["local", "openai", "anthropic"]
TaskName = Literal[
    "classify_lead",
    "detect_language",
    "classify_intent",
    "compose_outreach",
    "compose_reply",
    "compose_followup",
    "summarise",
]
TASKS: tuple[TaskName, ...] = (
    "classify_lead",
    "detect_language",
    "classify_intent",
    "compose_outreach",
    "compose_reply",
    "compose_followup",
    "summarise",
)
CLASSIFICATION_TASKS: frozenset[TaskName] = frozenset({"classify_lead", "detect_language", "classify_intent"})
COMPOSE_TASKS: frozenset[TaskName] = frozenset({"compose_outreach", "compose_reply", "compose_followup"})

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must never silently disable a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointConfig(_Strict):
    """One model endpoint. ``local`` means nightcrew's own models and templates: no network, never down."""

    provider: ProviderName
    name: str | None = Field(default=None, min_length=1)
    base_url: str | None = None
    model: str | None = None
    # The NAME of the environment variable holding the key, never the key itself.
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    input_per_mtok: float = Field(default=0.0, ge=0.0)
    output_per_mtok: float = Field(default=0.0, ge=0.0)
    timeout_s: float = Field(default=30.0, gt=0.0)
    max_concurrency: int = Field(default=4, ge=1)
    # How fast work that waited for this endpoint drains when it comes back (its DBOS queue's limiter), in
    # calls per second; below 1, one call every 1/rate seconds. None: NIGHTCREW_LLM_QUEUE_RATE_PER_SECOND.
    rate_per_s: float | None = Field(default=None, gt=0.0, le=10_000.0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_output_tokens: int = Field(default=1024, ge=1)
    temperature: float | None = Field(default=0.2, ge=0.0, le=2.0)
    # OpenAI-compatible servers differ: some reject response_format, newer OpenAI models want
    # max_completion_tokens instead of max_tokens.
    json_mode: bool = True
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # A modelled endpoint (the demo's): its latencies are reported by the server, not measured.
    simulated: bool = False

    @model_validator(mode="after")
    def _shape_fits_provider(self) -> EndpointConfig:
        if self.provider == "local":
            extra = [
                f
                for f in ("base_url", "model", "api_key_env")
                if getattr(self, f) is not None  # a local endpoint has nowhere to send these
            ]
            if extra:
                raise ValueError(f"a local endpoint takes no {', '.join(extra)}")
            return self
        if not self.model:
            raise ValueError(f"a {self.provider} endpoint needs a model")
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        return self

    @property
    def key(self) -> str:
        """A stable identity for breakers, semaphores and the ledger."""
        if self.name:
            return self.name
        if self.provider == "local":
            return "local"
        host = urlsplit(self.resolved_base_url).netloc
        return f"{self.provider}/{self.model}@{host}"

    @property
    def resolved_base_url(self) -> str:
        """The base URL requests go to (the provider's public API when none is configured)."""
        if self.provider == "local":
            return ""
        return self.base_url or DEFAULT_BASE_URLS[self.provider]

    @property
    def is_local(self) -> bool:
        """Whether this endpoint is nightcrew's own models and templates."""
        return self.provider == "local"

    def queue_limiter(self, default_per_s: float) -> tuple[int, float]:
        """The drain rate of work waiting for this endpoint as DBOS wants it: (calls, per seconds)."""
        rate = self.rate_per_s if self.rate_per_s is not None else default_per_s
        if rate >= 1.0:
            return round(rate), 1.0
        return 1, round(1.0 / rate, 3)


class TierConfig(RootModel[list[EndpointConfig]]):
    """A tier: endpoints tried in order."""

    model_config = ConfigDict(frozen=True)

    @field_validator("root")
    @classmethod
    def _not_empty(cls, value: list[EndpointConfig]) -> list[EndpointConfig]:
        if not value:
            raise ValueError("a tier needs at least one endpoint")
        return value

    @property
    def endpoints(self) -> list[EndpointConfig]:
        """The endpoints in the order they are tried."""
        return self.root

    @property
    def is_local(self) -> bool:
        """Whether the tier starts with nightcrew's own models (so it never waits on a network)."""
        return self.root[0].is_local


class TaskRoute(_Strict):
    """Where one task goes, where it may fall back to, and when a classification escalates."""

    tier: str
    fallback: str | None = None
    allow_template_fallback: bool = False
    # Classification cascade: an answer below this confidence is asked again on ``escalate_to``.
    confidence_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    escalate_to: str | None = None


class Budgets(_Strict):
    """Spend caps per tenant per day (in ``timezone``); past one, paid model work goes local or waits."""

    daily_usd_per_tenant: float | None = Field(default=None, ge=0.0)
    per_tenant: dict[str, float] = Field(default_factory=dict)
    timezone: str = "UTC"
    # template: paid work falls back to local models/templates; wait: it waits for the next day.
    on_exceeded: Literal["template", "wait"] = "template"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("per_tenant")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for tenant, limit in value.items():
            if limit < 0:
                raise ValueError(f"budget for tenant {tenant!r} is negative")
        return value

    def limit_for(self, tenant: str) -> float | None:
        """The day's cap for ``tenant`` in USD, or None when uncapped."""
        return self.per_tenant.get(tenant, self.daily_usd_per_tenant)

    @property
    def enabled(self) -> bool:
        """Whether any tenant has a cap."""
        return self.daily_usd_per_tenant is not None or bool(self.per_tenant)


class RetrySettings(_Strict):
    """Backoff between attempts on one endpoint (the count is per endpoint: ``max_retries``)."""

    base_delay_s: float = Field(default=0.5, ge=0.0)
    max_delay_s: float = Field(default=20.0, ge=0.0)
    # A Retry-After longer than this is not slept through inside a step: the endpoint counts as down.
    max_retry_after_s: float = Field(default=60.0, ge=0.0)
    jitter: float = Field(default=0.5, ge=0.0, le=1.0)


class BreakerSettings(_Strict):
    """When an endpoint's circuit opens and how long until a probe."""

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0.0)


class RoutingPolicy(_Strict):
    """Tiers, the task -> tier map and budgets: the ``routing`` section of the playbook."""

    tiers: dict[str, TierConfig]
    tasks: dict[TaskName, TaskRoute] = Field(default_factory=dict)
    default_tier: str | None = None
    capable_tier: str = "capable"
    budgets: Budgets = Field(default_factory=Budgets)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)

    @field_validator("tasks", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        # ``classify_intent: fast`` is shorthand for ``classify_intent: {tier: fast}``.
        if isinstance(value, Mapping):
            return {k: {"tier": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> RoutingPolicy:
        names = sorted(self.tiers)
        if not self.tiers:
            raise ValueError("routing needs at least one tier")
        if self.capable_tier not in self.tiers:
            raise ValueError(f"capable_tier {self.capable_tier!r} is not one of the tiers {names}")
        if self.default_tier is not None and self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {names}")
        missing = [t for t in TASKS if t not in self.tasks]
        if missing and self.default_tier is None:
            raise ValueError(f"tasks {missing} have no tier; route them or set default_tier")
        for task, route in self.tasks.items():
            for label, tier in (
                ("tier", route.tier),
                ("fallback", route.fallback),
                ("escalate_to", route.escalate_to),
            ):
                if tier is not None and tier not in self.tiers:
                    raise ValueError(f"task {task}: {label} {tier!r} is not one of the tiers {names}")
            if route.fallback is not None and route.fallback == route.tier:
                raise ValueError(f"task {task}: fallback is the same tier as tier ({route.tier!r})")
            if (route.confidence_threshold is not None or route.escalate_to is not None) and (
                task not in CLASSIFICATION_TASKS
            ):
                raise ValueError(f"task {task}: only classification tasks escalate on confidence")
        by_key: dict[str, EndpointConfig] = {}
        for tier_config in self.tiers.values():
            for endpoint in tier_config.endpoints:
                seen = by_key.setdefault(endpoint.key, endpoint)
                if seen != endpoint:
                    raise ValueError(f"two different endpoints share the name {endpoint.key!r}")
        return self

    def route_for(self, task: TaskName) -> TaskRoute:
        """The route of ``task`` (the default tier when the playbook does not name it)."""
        route = self.tasks.get(task)
        if route is not None:
            return route
        if self.default_tier is None:  # the validator makes this unreachable; kept for type narrowing
            raise ConfigurationError(f"task {task} has no tier")
        return TaskRoute(tier=self.default_tier)

    def waits_for(self, task: TaskName) -> EndpointConfig | None:
        """The network endpoint work of ``task`` waits for when its tiers are down (the first one it would call)."""
        route = self.route_for(task)
        for tier in (route.tier, route.fallback):
            if tier is None:
                continue
            for endpoint in self.tiers[tier].endpoints:
                if not endpoint.is_local:
                    return endpoint
        return None

    def network_endpoints(self) -> list[EndpointConfig]:
        """Every endpoint that is not nightcrew's own, once each, in playbook order."""
        seen: dict[str, EndpointConfig] = {}
        for tier in self.tiers.values():
            for endpoint in tier.endpoints:
                if not endpoint.is_local:
                    seen.setdefault(endpoint.key, endpoint)
        return list(seen.values())

    def escalation_tier(self, task: TaskName) -> str | None:
        """The tier a low-confidence classification is asked again on, or None without a cascade."""
        route = self.route_for(task)
        if route.confidence_threshold is None:
            return None
        target = route.escalate_to or self.capable_tier
        # Asking nightcrew's own models again cannot give a better answer: no cascade to a local tier.
        if target == route.tier or (target in self.tiers and self.tiers[target].is_local):
            return None
        return target


def local_only_policy() -> RoutingPolicy:
    """Every task on nightcrew's own models and templates: the offline default."""
    return RoutingPolicy.model_validate(
        {
            "tiers": {"fast": [{"provider": "local"}], "capable": [{"provider": "local"}]},
            "default_tier": "fast",
        }
    )


def resolve_api_key(endpoint: EndpointConfig, env: Mapping[str, str]) -> str | None:
    """Read the endpoint's key from ``env`` (the injected environment); None when it needs none."""
    if endpoint.api_key_env is None:
        return None
    value = env.get(endpoint.api_key_env)
    if not value:
        raise ConfigurationError(f"endpoint {endpoint.key}: environment variable {endpoint.api_key_env} is not set")
    return value
