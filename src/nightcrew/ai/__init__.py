"""Model routing: task -> tier -> endpoint, breakers, fallbacks, cost ledger."""

from nightcrew.ai.breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from nightcrew.ai.config import (
    CLASSIFICATION_TASKS,
    COMPOSE_TASKS,
    TASKS,
    Budgets,
    EndpointConfig,
    RoutingPolicy,
    TaskName,
    TaskRoute,
    TierConfig,
    local_only_policy,
)
from nightcrew.ai.errors import (
    AIError,
    BudgetExceeded,
    InvalidModelOutput,
    ProviderError,
    RequestRejected,
    TierUnavailable,
)
from nightcrew.ai.ledger import CallRecord, CostReport, CostSink, InMemoryLedger, SpendReader, cost_report
from nightcrew.ai.prompts import ComposeBrief, ContactContext, Prompt
from nightcrew.ai.router import CallContext, CascadeResult, EndpointHealth, ModelRouter, Routed, RoutePlan
from nightcrew.ai.structured import Classification, Draft, Summary

__all__ = [
    "CLASSIFICATION_TASKS",
    "COMPOSE_TASKS",
    "TASKS",
    "AIError",
    "BreakerSnapshot",
    "BreakerState",
    "BudgetExceeded",
    "Budgets",
    "CallContext",
    "CallRecord",
    "CascadeResult",
    "CircuitBreaker",
    "Classification",
    "ComposeBrief",
    "ContactContext",
    "CostReport",
    "CostSink",
    "Draft",
    "EndpointConfig",
    "EndpointHealth",
    "InMemoryLedger",
    "InvalidModelOutput",
    "ModelRouter",
    "Prompt",
    "ProviderError",
    "RequestRejected",
    "RoutePlan",
    "Routed",
    "RoutingPolicy",
    "SpendReader",
    "Summary",
    "TaskName",
    "TaskRoute",
    "TierConfig",
    "TierUnavailable",
    "cost_report",
    "local_only_policy",
]
