"""A loopback LLM endpoint speaking the OpenAI chat-completions and Anthropic messages wire formats.

Tests script its answers (500, 429 with Retry-After, hangs, malformed bodies) and count the requests
it got; the demo runs it as the *simulated* capable tier: answers come from a callback (templates),
token counts and latency are modelled from text length, and an outage can be switched on at runtime.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from nightcrew.ai.pricing import estimate_tokens
from nightcrew.ai.providers.base import CALL_ID_HEADER, SIMULATED_LATENCY_HEADER
from nightcrew.clock import Clock, SystemClock

ApiName = Literal["openai", "anthropic"]
PATHS: dict[str, ApiName] = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}
_SECRET_HEADERS = frozenset({"authorization", "x-api-key"})
# Per-message framing tokens the chat formats add on top of the text (OpenAI documents about 4).
_TOKENS_PER_MESSAGE = 4


@dataclass(frozen=True)
class ChatTurn:
    """One message of a request."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """A chat request in either wire format, normalised."""

    api: ApiName
    model: str
    system: str
    messages: tuple[ChatTurn, ...]
    response_format: str | None
    max_tokens: int | None
    # The router's call id (CallContext.call_id), sent only to simulated endpoints.
    call_id: str | None = None

    def last_user(self) -> str:
        """The most recent user message."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    def text(self) -> str:
        """All text of the request."""
        return "\n".join([self.system, *(m.content for m in self.messages)])


@dataclass(frozen=True)
class Reply:
    """Answer normally: ``content`` verbatim, or the responder's answer when None."""

    content: str | None = None


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error in the API's error format."""

    status: int = 500
    message: str = "simulated server error"


@dataclass(frozen=True)
class RateLimit:
    """Answer 429 with a Retry-After header."""

    retry_after_s: float = 1.0


@dataclass(frozen=True)
class Hang:
    """Say nothing for ``seconds`` (past the client's timeout), then answer normally."""

    seconds: float = 5.0


@dataclass(frozen=True)
class MalformedBody:
    """Answer 200 with a body that is not valid JSON."""

    body: str = '{"id": "broken", "choices": ['


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Behaviour = Reply | Fail | RateLimit | Hang | MalformedBody | Drop
Responder = Callable[[ChatRequest], str]


@dataclass(frozen=True)
class LatencyModel:
    """Latency as a fixed overhead plus time per token (decoding dominates)."""

    base_ms: float = 350.0
    per_input_token_ms: float = 0.05
    per_output_token_ms: float = 12.0

    def latency_ms(self, input_tokens: int, output_tokens: int) -> float:
        """The modelled latency of one call."""
        return self.base_ms + self.per_input_token_ms * input_tokens + self.per_output_token_ms * output_tokens


@dataclass(frozen=True)
class RecordedRequest:
    """What the endpoint received and how it answered (credentials redacted)."""

    path: str
    api: ApiName | None
    chat: ChatRequest | None
    body: Any
    headers: dict[str, str]
    answered: str
    status: int
    credential_sha256: str | None = field(default=None, repr=False)


def count_input_tokens(chat: ChatRequest) -> int:
    """Modelled prompt tokens: text length plus per-message framing."""
    turns = [chat.system, *(m.content for m in chat.messages)] if chat.system else [m.content for m in chat.messages]
    return sum(estimate_tokens(t) + _TOKENS_PER_MESSAGE for t in turns)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: SimulatedLLMEndpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms per answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test and demo output quiet."""

    def do_POST(self) -> None:
        """Serve one chat request."""
        endpoint = self.server.endpoint
        endpoint._enter()
        try:
            endpoint._serve(self)
        finally:
            endpoint._leave()

    def do_GET(self) -> None:
        """Only POST routes exist."""
        self.server.endpoint._send_json(self, 404, {"error": {"message": "not found", "type": "not_found"}})


class SimulatedLLMEndpoint:
    """An OpenAI- and Anthropic-compatible chat server on 127.0.0.1, scriptable per request."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: LatencyModel | None = None,
        time_scale: float = 0.0,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must not be negative")
        self.responder = responder
        self.latency = latency or LatencyModel()
        # Real seconds slept per modelled second: 0 reports latency without spending it.
        self.time_scale = time_scale
        self._clock = clock or SystemClock()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._scripts: dict[ApiName | None, deque[Behaviour]] = {
            None: deque(),
            "openai": deque(),
            "anthropic": deque(),
        }
        self._requests: list[RecordedRequest] = []
        self._outage: Fail | Drop | None = None
        self._served = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> SimulatedLLMEndpoint:
        """Bind and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.endpoint = self
        self._server = server
        self._stopping.clear()
        # A short poll interval keeps stop() fast (shutdown waits for the serving loop to notice).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulated-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging answers are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatedLLMEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the Anthropic SDK's base_url."""
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """The port the server is bound to."""
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's base_url (with the ``/v1`` prefix)."""
        return f"{self.base_url}/v1"

    # control

    def script(self, *behaviours: Behaviour, api: ApiName | None = None) -> None:
        """Queue behaviours for the next requests (of ``api`` only, when given); then normal answers."""
        with self._lock:
            self._scripts[api].extend(behaviours)

    def set_outage(self, active: bool, *, status: int = 503, drop: bool = False) -> None:
        """Switch an outage on (every request fails with ``status``, or the connection drops) or off."""
        with self._lock:
            if not active:
                self._outage = None
            else:
                self._outage = Drop() if drop else Fail(status, "simulated outage")

    @property
    def outage_active(self) -> bool:
        """Whether an outage is switched on."""
        with self._lock:
            return self._outage is not None

    def requests(self, api: ApiName | None = None) -> list[RecordedRequest]:
        """Every request received (of ``api`` only, when given), oldest first."""
        with self._lock:
            return [r for r in self._requests if api is None or r.api == api]

    def count(self, api: ApiName | None = None) -> int:
        """How many requests arrived (of ``api`` only, when given)."""
        return len(self.requests(api))

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours."""
        with self._lock:
            self._requests.clear()
            self._peak_in_flight = self._in_flight
            for queue in self._scripts.values():
                queue.clear()

    @property
    def peak_in_flight(self) -> int:
        """The most requests that were being served at the same time."""
        with self._lock:
            return self._peak_in_flight

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @staticmethod
    def credential_matches(request: RecordedRequest, secret: str) -> bool:
        """Whether ``request`` carried ``secret`` as its key (checked by hash; keys are never stored)."""
        return request.credential_sha256 == hashlib.sha256(secret.encode()).hexdigest()

    # serving

    def _next_behaviour(self, api: ApiName) -> Behaviour:
        with self._lock:
            if self._outage is not None:
                return self._outage
            for queue in (self._scripts[api], self._scripts[None]):
                if queue:
                    return queue.popleft()
            return Reply()

    def _serve(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0]
        api = PATHS.get(path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        credential = _credential(headers)
        redacted = {k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        chat = _parse_chat(api, body, headers.get(CALL_ID_HEADER)) if api is not None else None
        if api is None or chat is None:
            status = 404 if api is None else 400
            self._record(path, api, None, body, redacted, "invalid", status, credential)
            error_api: ApiName = api or "openai"
            self._send_error(handler, error_api, status, "unknown route" if api is None else "invalid request body")
            return
        behaviour = self._next_behaviour(api)
        if isinstance(behaviour, Hang):
            self._record(path, api, chat, body, redacted, "hang", 200, credential)
            if self._stopping.wait(behaviour.seconds):
                handler.close_connection = True
                return
            self._answer(handler, chat, None)
            return
        if isinstance(behaviour, Drop):
            self._record(path, api, chat, body, redacted, "drop", 0, credential)
            handler.close_connection = True
            return
        if isinstance(behaviour, Fail):
            self._record(path, api, chat, body, redacted, f"fail {behaviour.status}", behaviour.status, credential)
            self._send_error(handler, api, behaviour.status, behaviour.message)
            return
        if isinstance(behaviour, RateLimit):
            self._record(path, api, chat, body, redacted, "rate_limit", 429, credential)
            retry = behaviour.retry_after_s
            value = str(int(retry)) if float(retry).is_integer() else f"{retry:g}"
            self._send_error(handler, api, 429, "simulated rate limit", {"retry-after": value})
            return
        if isinstance(behaviour, MalformedBody):
            self._record(path, api, chat, body, redacted, "malformed", 200, credential)
            self._send_raw(handler, 200, behaviour.body.encode(), {"content-type": "application/json"})
            return
        if behaviour.content is None and self.responder is None:
            self._record(path, api, chat, body, redacted, "no responder", 500, credential)
            self._send_error(handler, api, 500, "simulated endpoint has no responder configured")
            return
        self._record(path, api, chat, body, redacted, "reply", 200, credential)
        self._answer(handler, chat, behaviour.content)

    def _answer(self, handler: _Handler, chat: ChatRequest, content: str | None) -> None:
        if content is None:
            if self.responder is None:
                self._send_error(handler, chat.api, 500, "simulated endpoint has no responder configured")
                return
            try:
                content = self.responder(chat)
            except Exception as exc:  # the callback's bug must surface as a server error, not kill the thread
                self._send_error(handler, chat.api, 500, f"responder failed: {type(exc).__name__}: {exc}")
                return
        input_tokens = count_input_tokens(chat)
        output_tokens = estimate_tokens(content)
        latency_ms = self.latency.latency_ms(input_tokens, output_tokens)
        if self.time_scale > 0 and self._stopping.wait(latency_ms / 1000.0 * self.time_scale):
            handler.close_connection = True
            return
        with self._lock:
            self._served += 1
            serial = self._served
        created = int(self._clock.now().timestamp())
        if chat.api == "openai":
            payload: dict[str, Any] = {
                "id": f"chatcmpl-sim-{serial}",
                "object": "chat.completion",
                "created": created,
                "model": chat.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            }
        else:
            payload = {
                "id": f"msg_sim_{serial}",
                "type": "message",
                "role": "assistant",
                "model": chat.model,
                "content": [{"type": "text", "text": content}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }
        self._send_json(handler, 200, payload, {SIMULATED_LATENCY_HEADER: f"{latency_ms:.1f}"})

    def _record(
        self,
        path: str,
        api: ApiName | None,
        chat: ChatRequest | None,
        body: Any,
        headers: dict[str, str],
        answered: str,
        status: int,
        credential: str | None,
    ) -> None:
        digest = hashlib.sha256(credential.encode()).hexdigest() if credential else None
        with self._lock:
            self._requests.append(RecordedRequest(path, api, chat, body, headers, answered, status, digest))

    def _send_error(
        self,
        handler: _Handler,
        api: ApiName,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if api == "anthropic":
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status)
            kind = kind or ("api_error" if status >= 500 else "invalid_request_error")
            payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            kind = (
                "rate_limit_exceeded"
                if status == 429
                else ("server_error" if status >= 500 else "invalid_request_error")
            )
            payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send_json(handler, status, payload, headers)

    def _send_json(self, handler: _Handler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        extra = {"content-type": "application/json", **(headers or {})}
        self._send_raw(handler, status, json.dumps(payload).encode(), extra)

    @staticmethod
    def _send_raw(handler: _Handler, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout fired during a hang): nothing left to tell it.
            handler.close_connection = True


def _credential(headers: dict[str, str]) -> str | None:
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
    return None


def _parse_chat(api: ApiName, body: Any, call_id: str | None) -> ChatRequest | None:
    """Normalise a request body; None when it is not a valid request of that API."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return None
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        return None
    system_parts: list[str] = []
    if api == "anthropic":
        system = _text_of(body.get("system", ""))
        if system is None or not isinstance(body.get("max_tokens"), int):
            return None
        system_parts.append(system)
    turns: list[ChatTurn] = []
    for message in raw_messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return None
        text = _text_of(message.get("content"))
        if text is None:
            return None
        if api == "openai" and message["role"] in ("system", "developer"):
            system_parts.append(text)
        else:
            turns.append(ChatTurn(message["role"], text))
    response_format = body.get("response_format")
    fmt = response_format.get("type") if isinstance(response_format, dict) else None
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    return ChatRequest(
        api=api,
        model=body["model"],
        system="\n".join(p for p in system_parts if p),
        messages=tuple(turns),
        response_format=fmt if isinstance(fmt, str) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        call_id=call_id,
    )
