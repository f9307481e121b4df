"""Built-in transports: a JSON-lines file (the demo default), a webhook, the console."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import threading
from pathlib import Path

import httpx
from rich.console import Console

from nightcrew.channels.base import Delivery, OutboundMessage
from nightcrew.errors import ChannelError


class FileTransport:
    """Append each message as one JSON line; the line carries the idempotency key."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> Delivery:
        """Append the message (with an exclusive lock, so processes never interleave lines)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(message.as_json(), ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(line)
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return Delivery(transport=self.name, provider_message_id=message.idempotency_key)


class WebhookTransport:
    """POST the message as JSON with an ``Idempotency-Key`` header stable across retries and crashes."""

    name = "webhook"
    _RETRYABLE = {408, 425, 429, 500, 502, 503, 504}

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.client = client or httpx.Client(timeout=timeout_s)

    def send(self, message: OutboundMessage) -> Delivery:
        """Deliver once per key; the receiver deduplicates on the header."""
        body = json.dumps(message.as_json(), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
        if self.secret:
            signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Nightcrew-Signature"] = f"sha256={signature}"
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ChannelError(f"webhook {self.url} timed out", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"webhook {self.url} unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise ChannelError(
                f"webhook {self.url} answered {response.status_code}",
                retryable=response.status_code in self._RETRYABLE,
            )
        provider_id = None
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = response.json()
                provider_id = str(payload.get("id")) if isinstance(payload, dict) and payload.get("id") else None
            except ValueError:
                provider_id = None
        return Delivery(transport=self.name, provider_message_id=provider_id)


class ConsoleTransport:
    """Print the message: for trying nightcrew out by hand."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()

    def send(self, message: OutboundMessage) -> Delivery:
        """Print who it is for and what it says."""
        self.console.print(
            f"[bold]{message.channel}[/bold] -> {message.to} ({message.language}) "
            f"[dim]{message.idempotency_key}[/dim]\n{message.body}\n"
        )
        return Delivery(transport=self.name)
