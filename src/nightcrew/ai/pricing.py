"""What a call cost, and what the same call would have cost on the capable tier (the counterfactual)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nightcrew.ai.config import EndpointConfig, RoutingPolicy

# A common rule of thumb for BPE tokenisers on Latin-script text; used only where no usage is reported.
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost in USD of a call with these token counts."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


def price_of(endpoint: EndpointConfig) -> Price:
    """The endpoint's configured price (zero for local models)."""
    return Price(endpoint.input_per_mtok, endpoint.output_per_mtok)


def call_cost(endpoint: EndpointConfig, input_tokens: int, output_tokens: int) -> float:
    """The cost in USD of one call on ``endpoint``."""
    return price_of(endpoint).cost(input_tokens, output_tokens)


def capable_price(policy: RoutingPolicy) -> Price:
    """The price of the capable tier: its first endpoint that calls a model (zero if it is all local)."""
    for endpoint in policy.tiers[policy.capable_tier].endpoints:
        if not endpoint.is_local:
            return price_of(endpoint)
    return Price()


def counterfactual_cost(policy: RoutingPolicy, input_tokens: int, output_tokens: int) -> float:
    """What a call with these token counts would have cost on the capable tier."""
    return capable_price(policy).cost(input_tokens, output_tokens)


def estimate_tokens(text: str) -> int:
    """Estimate a text's token count from its length (for local calls, which report no usage)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def saving_pct(actual_usd: float, counterfactual_usd: float) -> float:
    """The saving of ``actual`` against the counterfactual, in percent (0 when nothing would be spent)."""
    if counterfactual_usd <= 0:
        return 0.0
    return 100.0 * (counterfactual_usd - actual_usd) / counterfactual_usd
