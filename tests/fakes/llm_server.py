"""The loopback OpenAI/Anthropic-compatible LLM server used by tests (the demo's simulated endpoint)."""

from nightcrew.simulate.llm_endpoint import (
    Behaviour,
    ChatRequest,
    ChatTurn,
    Drop,
    Fail,
    Hang,
    LatencyModel,
    MalformedBody,
    RateLimit,
    RecordedRequest,
    Reply,
    Responder,
    SimulatedLLMEndpoint,
)

FakeLLMServer = SimulatedLLMEndpoint

__all__ = [
    "Behaviour",
    "ChatRequest",
    "ChatTurn",
    "Drop",
    "Fail",
    "FakeLLMServer",
    "Hang",
    "LatencyModel",
    "MalformedBody",
    "RateLimit",
    "RecordedRequest",
    "Reply",
    "Responder",
    "SimulatedLLMEndpoint",
]
