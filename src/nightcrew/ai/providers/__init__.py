"""Provider adapters: one class per wire format, built from an endpoint's config."""

from __future__ import annotations

from collections.abc import Mapping

from nightcrew.ai.config import EndpointConfig, resolve_api_key
from nightcrew.ai.providers.base import ChatMessage, Completion, CompletionRequest, ModelProvider
from nightcrew.clock import Clock

__all__ = ["ChatMessage", "Completion", "CompletionRequest", "ModelProvider", "build_provider"]


def build_provider(endpoint: EndpointConfig, *, env: Mapping[str, str], clock: Clock) -> ModelProvider:
    """The adapter for a network endpoint; its key is read from ``env`` by the name in ``api_key_env``."""
    api_key = resolve_api_key(endpoint, env)
    # The SDKs are imported only when an endpoint needs them: a template-only install never loads them.
    if endpoint.provider == "openai":
        from nightcrew.ai.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(endpoint, api_key=api_key, clock=clock)
    if endpoint.provider == "anthropic":
        from nightcrew.ai.providers.anthropic import AnthropicProvider

        return AnthropicProvider(endpoint, api_key=api_key, clock=clock)
    raise ValueError(f"{endpoint.key}: local endpoints have no network provider")
