"""Model routing: task -> tier -> endpoint, breakers, fallbacks, cost ledger."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightcrew.ai.breaker import BreakerSnapshot as BreakerSnapshot
    from nightcrew.ai.breaker import BreakerState as BreakerState
    from nightcrew.ai.breaker import CircuitBreaker as CircuitBreaker
    from nightcrew.ai.config import CLASSIFICATION_TASKS as CLASSIFICATION_TASKS
    from nightcrew.ai.config import COMPOSE_TASKS as COMPOSE_TASKS
    from nightcrew.ai.config import TASKS as TASKS
    from nightcrew.ai.config import Budgets as Budgets
    from nightcrew.ai.config import EndpointConfig as EndpointConfig
    from nightcrew.ai.config import RoutingPolicy as RoutingPolicy
    from nightcrew.ai.config import TaskName as TaskName
    from nightcrew.ai.config import TaskRoute as TaskRoute
    from nightcrew.ai.config import TierConfig as TierConfig
    from nightcrew.ai.config import local_only_policy as local_only_policy
    from nightcrew.ai.errors import AIError as AIError
    from nightcrew.ai.errors import BudgetExceeded as BudgetExceeded
    from nightcrew.ai.errors import InvalidModelOutput as InvalidModelOutput
    from nightcrew.ai.errors import ProviderError as ProviderError
    from nightcrew.ai.errors import RequestRejected as RequestRejected
    from nightcrew.ai.errors import TierUnavailable as TierUnavailable
    from nightcrew.ai.ledger import CallRecord as CallRecord
    from nightcrew.ai.ledger import CostReport as CostReport
    from nightcrew.ai.ledger import CostSink as CostSink
    from nightcrew.ai.ledger import InMemoryLedger as InMemoryLedger
    from nightcrew.ai.ledger import SpendReader as SpendReader
    from nightcrew.ai.ledger import cost_report as cost_report
    from nightcrew.ai.prompts import ComposeBrief as ComposeBrief
    from nightcrew.ai.prompts import ContactContext as ContactContext
    from nightcrew.ai.prompts import Prompt as Prompt
    from nightcrew.ai.router import CallContext as CallContext
    from nightcrew.ai.router import CascadeResult as CascadeResult
    from nightcrew.ai.router import EndpointHealth as EndpointHealth
    from nightcrew.ai.router import ModelRouter as ModelRouter
    from nightcrew.ai.router import Routed as Routed
    from nightcrew.ai.router import RoutePlan as RoutePlan
    from nightcrew.ai.structured import Classification as Classification
    from nightcrew.ai.structured import Draft as Draft
    from nightcrew.ai.structured import Summary as Summary

# Names are loaded on first use (PEP 562): importing the package stays cheap for commands that never need it.
_WHERE: dict[str, str] = {
    "AIError": "nightcrew.ai.errors",
    "BreakerSnapshot": "nightcrew.ai.breaker",
    "BreakerState": "nightcrew.ai.breaker",
    "BudgetExceeded": "nightcrew.ai.errors",
    "Budgets": "nightcrew.ai.config",
    "CLASSIFICATION_TASKS": "nightcrew.ai.config",
    "COMPOSE_TASKS": "nightcrew.ai.config",
    "CallContext": "nightcrew.ai.router",
    "CallRecord": "nightcrew.ai.ledger",
    "CascadeResult": "nightcrew.ai.router",
    "CircuitBreaker": "nightcrew.ai.breaker",
    "Classification": "nightcrew.ai.structured",
    "ComposeBrief": "nightcrew.ai.prompts",
    "ContactContext": "nightcrew.ai.prompts",
    "CostReport": "nightcrew.ai.ledger",
    "CostSink": "nightcrew.ai.ledger",
    "Draft": "nightcrew.ai.structured",
    "EndpointConfig": "nightcrew.ai.config",
    "EndpointHealth": "nightcrew.ai.router",
    "InMemoryLedger": "nightcrew.ai.ledger",
    "InvalidModelOutput": "nightcrew.ai.errors",
    "ModelRouter": "nightcrew.ai.router",
    "Prompt": "nightcrew.ai.prompts",
    "ProviderError": "nightcrew.ai.errors",
    "RequestRejected": "nightcrew.ai.errors",
    "RoutePlan": "nightcrew.ai.router",
    "Routed": "nightcrew.ai.router",
    "RoutingPolicy": "nightcrew.ai.config",
    "SpendReader": "nightcrew.ai.ledger",
    "Summary": "nightcrew.ai.structured",
    "TASKS": "nightcrew.ai.config",
    "TaskName": "nightcrew.ai.config",
    "TaskRoute": "nightcrew.ai.config",
    "TierConfig": "nightcrew.ai.config",
    "TierUnavailable": "nightcrew.ai.errors",
    "cost_report": "nightcrew.ai.ledger",
    "local_only_policy": "nightcrew.ai.config",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
