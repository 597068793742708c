"""An in-memory emulator of WordPress.com for the local stack and tests.

This first slice serves the registry of OAuth clients (the deployment's development client
among them) and WordPress.com-shaped errors; OAuth and REST endpoints build on it.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("wpcom_sandbox")


@dataclass(frozen=True)
class OAuthClient:
    """An app registered with the sandbox."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    name: str


@dataclass
class SandboxState:
    """Everything the sandbox knows; lives in memory only."""

    clients: dict[str, OAuthClient] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register_client(self, name: str, redirect_uri: str) -> OAuthClient:
        """Register an app, WordPress.com style (numeric id, long random secret)."""
        client = OAuthClient(
            client_id=str(10000 + secrets.randbelow(90000)),
            client_secret=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            name=name,
        )
        with self.lock:
            self.clients[client.client_id] = client
        return client


class _Handler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"

    def _json(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _not_found(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._json(404, {"error": "unknown_endpoint", "message": "Endpoint not found"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _not_found

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, self.path.split("?", 1)[0], code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        log.debug("sandbox http message suppressed")


class SandboxHTTPServer(ThreadingHTTPServer):
    """The HTTP server holding the sandbox state."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class WordPressSandbox:
    """Runs the sandbox on loopback in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()
        self._server = SandboxHTTPServer((host, port), self.state)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="wpcom-sandbox", daemon=True)

    @property
    def origin(self) -> str:
        """The sandbox's origin, standing in for https://public-api.wordpress.com."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
