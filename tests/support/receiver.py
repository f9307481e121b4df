"""A real HTTP server on 127.0.0.1 standing in for whatever receives nightcrew's outbound webhooks."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    key: str | None
    body: dict[str, Any]
    acknowledged: bool


@dataclass
class Receiver:
    """Records every request; can hold requests open or fail them on demand."""

    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where to POST."""
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def acknowledged_keys(self) -> Counter[str]:
        """Idempotency keys of the requests answered 200, with how often each came."""
        with self.lock:
            return Counter(r.key or "" for r in self.requests if r.acknowledged)

    def all_keys(self) -> Counter[str]:
        """Idempotency keys of every request, answered or not."""
        with self.lock:
            return Counter(r.key or "" for r in self.requests)

    def start(self) -> Receiver:
        """Listen on an ephemeral port in a background thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key")
                if receiver.hold is not None:
                    gate = receiver.hold
                    receiver.hold = None
                    receiver.holding.set()
                    with receiver.lock:
                        receiver.requests.append(Received(key, body, acknowledged=False))
                    gate.wait(timeout=60)
                    return  # never answered: the sender dies while waiting
                with receiver.lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        receiver.requests.append(Received(key, body, acknowledged=False))
                        status = 503
                    else:
                        receiver.requests.append(Received(key, body, acknowledged=True))
                        status = 200
                payload = json.dumps({"id": f"rcv-{len(receiver.requests)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
