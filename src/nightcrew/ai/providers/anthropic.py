"""Anthropic's messages API via the official ``anthropic`` client."""

from __future__ import annotations

import anthropic
from anthropic.types import MessageParam

from nightcrew.ai.config import EndpointConfig
from nightcrew.ai.errors import ProviderError
from nightcrew.ai.providers.base import Completion, CompletionRequest, simulated_latency, simulation_headers
from nightcrew.ai.retry import classify_error
from nightcrew.clock import Clock

# Anthropic has no JSON mode switch; the instruction rides at the end of the system prompt.
JSON_INSTRUCTION = "Answer with one JSON object only: no prose before or after it, no code fences."


class AnthropicProvider:
    """Messages through the official ``anthropic`` client with its own retries switched off."""

    def __init__(self, endpoint: EndpointConfig, *, api_key: str | None, clock: Clock) -> None:
        if endpoint.provider != "anthropic" or endpoint.model is None:
            raise ValueError(f"{endpoint.key} is not an Anthropic endpoint")
        self._endpoint = endpoint
        self._model: str = endpoint.model
        self._clock = clock
        # An explicit key (even a dummy one) stops the SDK from looking for credentials on its own.
        self._client = anthropic.Anthropic(
            api_key=api_key or "not-needed",
            base_url=endpoint.resolved_base_url,
            timeout=endpoint.timeout_s,
            max_retries=0,
        )

    @property
    def endpoint(self) -> EndpointConfig:
        """The endpoint this provider calls."""
        return self._endpoint

    def complete(self, request: CompletionRequest) -> Completion:
        """Send one messages request and return the text blocks joined, with usage."""
        messages: list[MessageParam] = []
        for message in request.messages:
            if message.role == "user":
                messages.append({"role": "user", "content": message.content})
            else:
                messages.append({"role": "assistant", "content": message.content})
        system = f"{request.system}\n\n{JSON_INSTRUCTION}" if request.json_output else request.system
        # No temperature: this SDK generation's messages API no longer takes sampling parameters.
        name = self._endpoint.key
        try:
            raw = self._client.messages.with_raw_response.create(
                model=self._model,
                max_tokens=self._endpoint.max_output_tokens,
                system=system,
                messages=messages,
                extra_headers=simulation_headers(self._endpoint, request),
            )
            response = raw.parse()
        except anthropic.AnthropicError as exc:
            raise classify_error(exc, endpoint=name, now=self._clock.now()) from exc
        except ValueError as exc:  # a body that is not JSON at all
            raise ProviderError(f"{name}: response is not JSON: {exc}", endpoint=name, kind="malformed") from exc
        blocks = getattr(response, "content", None)
        texts = [block.text for block in blocks or () if getattr(block, "type", None) == "text"]
        if not texts:
            raise ProviderError(f"{name}: response has no text block", endpoint=name, kind="malformed")
        usage = response.usage
        return Completion(
            text="".join(texts),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model=response.model or self._model,
            finish_reason=response.stop_reason,
            reported_latency_ms=simulated_latency(self._endpoint, raw.headers),
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
