"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, llama.cpp, OpenRouter) via the openai SDK."""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from nightcrew.ai.config import EndpointConfig
from nightcrew.ai.errors import ProviderError
from nightcrew.ai.providers.base import Completion, CompletionRequest, simulated_latency, simulation_headers
from nightcrew.ai.retry import classify_error
from nightcrew.clock import Clock

# Local servers (Ollama, llama.cpp) ignore the key, but the SDK refuses to start without one.
NO_KEY = "not-needed"


class OpenAICompatProvider:
    """Chat completions through the official ``openai`` client with its own retries switched off."""

    def __init__(self, endpoint: EndpointConfig, *, api_key: str | None, clock: Clock) -> None:
        if endpoint.provider != "openai" or endpoint.model is None:
            raise ValueError(f"{endpoint.key} is not an OpenAI-compatible endpoint")
        self._endpoint = endpoint
        self._model: str = endpoint.model
        self._clock = clock
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY,
            base_url=endpoint.resolved_base_url,
            timeout=endpoint.timeout_s,
            max_retries=0,
        )

    @property
    def endpoint(self) -> EndpointConfig:
        """The endpoint this provider calls."""
        return self._endpoint

    def complete(self, request: CompletionRequest) -> Completion:
        """Send one chat-completions request and return the answer with its usage."""
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": request.system}]
        for message in request.messages:
            if message.role == "user":
                messages.append({"role": "user", "content": message.content})
            else:
                messages.append({"role": "assistant", "content": message.content})
        options: dict[str, Any] = {self._endpoint.max_tokens_param: self._endpoint.max_output_tokens}
        if self._endpoint.temperature is not None:
            options["temperature"] = self._endpoint.temperature
        if request.json_output and self._endpoint.json_mode:
            options["response_format"] = {"type": "json_object"}
        name = self._endpoint.key
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self._model,
                messages=messages,
                extra_headers=simulation_headers(self._endpoint, request),
                **options,
            )
            response = raw.parse()
        except openai.OpenAIError as exc:
            raise classify_error(exc, endpoint=name, now=self._clock.now()) from exc
        except ValueError as exc:  # a body that is not JSON at all
            raise ProviderError(f"{name}: response is not JSON: {exc}", endpoint=name, kind="malformed") from exc
        choices = getattr(response, "choices", None)
        if not choices or choices[0].message is None or choices[0].message.content is None:
            raise ProviderError(f"{name}: response has no message content", endpoint=name, kind="malformed")
        usage = response.usage
        if usage is None:
            raise ProviderError(f"{name}: response has no usage", endpoint=name, kind="malformed")
        return Completion(
            text=choices[0].message.content,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            model=response.model or self._model,
            finish_reason=choices[0].finish_reason,
            reported_latency_ms=simulated_latency(self._endpoint, raw.headers),
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
