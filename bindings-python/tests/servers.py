"""Loopback HTTP servers for the tests: a scriptable gateway and a scriptable upstream.

Both are real HTTP/1.1 servers on 127.0.0.1 (port 0, read back), so the SDK runs its real
network path. They exist for what the real Nexus stack cannot be made to do on demand: answer
garbage, fail with a chosen status, stall while a test watches another thread, or count the
exact number of resolve calls. End-to-end tests against the real stack live in
``test_stack.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    # Header names exactly as they arrived (the stdlib parser keeps their case).
    raw_header_names: list[str] = field(default_factory=list)


@dataclass
class LoopbackServer:
    """A threaded HTTP server whose answers come from ``handler(Recorded) -> Reply``."""

    handler: Callable[[Recorded], Reply]
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    raw_header_names=list(self.headers.keys()),
                )
                with owner._lock:
                    owner.requests.append(recorded)
                status, headers, payload = owner.handler(recorded)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean (and never on stdout)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def resolve_body(
    token: str = "tok-1",
    expires_in: int = 3600,
    strategy: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "strategy": strategy or {"type": "oauth2"},
        "credentials": credentials or {"access_token": token},
        "scopes": ["repo"],
        "api_base_url": "https://api.example.test",
        "connection_id": "conn-1",
    }


class FakeGateway:
    """``/v1/resolve`` answering from ``self.reply`` (a function of the request), counting calls.

    ``tokens`` hands out a new access token per resolve (``tok-1``, ``tok-2``, …) so a test can
    see which resolve a request used. ``delay`` stalls every resolve (stampede tests).
    """

    def __init__(self) -> None:
        self.resolves = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self.reply: Callable[[Recorded, int], Reply] = lambda _req, n: json_reply(
            200, resolve_body(token=f"tok-{n}")
        )
        # Other routes (the connection lifecycle): path -> reply.
        self.routes: dict[str, Callable[[Recorded], Reply]] = {}
        self.server = LoopbackServer(self._handle).start()

    def _handle(self, request: Recorded) -> Reply:
        if request.path in self.routes:
            return self.routes[request.path](request)
        if request.path != "/v1/resolve":
            return json_reply(404, {"error": "not_found", "message": "no such route"})
        with self._lock:
            self.resolves += 1
            n = self.resolves
        if self.delay:
            time.sleep(self.delay)
        return self.reply(request, n)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
