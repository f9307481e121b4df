"""The seam between the router and a model API: one request in, one completion (with usage) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from nightcrew.ai.config import EndpointConfig


@dataclass(frozen=True)
class ChatMessage:
    """One turn of the conversation sent to the model."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """What to ask: a system prompt, the turns, and whether the answer must be a JSON object."""

    system: str
    messages: tuple[ChatMessage, ...]
    json_output: bool = True
    # The routed call's id; sent (as a header) only to simulated endpoints, whose responder may need it.
    call_id: str | None = None

    def text(self) -> str:
        """All prompt text, for token estimates."""
        return "\n".join([self.system, *(m.content for m in self.messages)])


@dataclass(frozen=True)
class Completion:
    """The model's answer and the usage the provider reported."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None
    # Set only by a simulated endpoint, which models latency instead of spending it.
    reported_latency_ms: float | None = None


class ModelProvider(Protocol):
    """A model API behind one endpoint. Raises ``ProviderError`` (with its kind) on failure."""

    @property
    def endpoint(self) -> EndpointConfig: ...

    def complete(self, request: CompletionRequest) -> Completion:
        """Send one request (no retries: the router owns the retry policy)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


SIMULATED_LATENCY_HEADER = "x-simulated-latency-ms"
CALL_ID_HEADER = "x-nightcrew-call-id"


def simulation_headers(endpoint: EndpointConfig, request: CompletionRequest) -> dict[str, str]:
    """Headers only a simulated endpoint gets: the call id its responder can key drafts by."""
    if endpoint.simulated and request.call_id:
        return {CALL_ID_HEADER: request.call_id}
    return {}


def simulated_latency(endpoint: EndpointConfig, headers: object) -> float | None:
    """The modelled latency a simulated endpoint reported in its headers (None for real endpoints)."""
    if not endpoint.simulated:
        return None
    get = getattr(headers, "get", None)
    value = get(SIMULATED_LATENCY_HEADER) if callable(get) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
