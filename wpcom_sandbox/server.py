"""The sandbox's HTTP server: reads requests, records them, applies injected faults and routes
`/oauth2/*` to `oauth`, `/rest/*` to the REST route table and `/files/*` to uploaded media;
anything else is a WordPress-shaped 404.

The request log holds method, path and status only: never query strings, headers, codes or tokens.
"""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wpcom_sandbox.messages import Request, Response, json_response
from wpcom_sandbox.oauth import OAUTH_ROUTES
from wpcom_sandbox.rest import RestRouter, not_found_body
from wpcom_sandbox.routes import default_router
from wpcom_sandbox.state import OAuthClient, SandboxState
from wpcom_sandbox.uploads import FILES_PREFIX, serve_upload

__all__ = ["OAuthClient", "SandboxHTTPServer", "SandboxState", "WordPressSandbox", "dispatch"]

log = logging.getLogger("wpcom_sandbox")

MAX_BODY_BYTES = 20 * 1024 * 1024


def dispatch(state: SandboxState, request: Request, origin: str, router: RestRouter) -> Response:
    """Route a request to the OAuth server or the REST API."""
    path = request.path.rstrip("/") if request.path != "/" else request.path
    oauth_handler = OAUTH_ROUTES.get(path)
    if oauth_handler is not None:
        return oauth_handler(state, request)
    if request.path.startswith("/rest/"):
        return router.dispatch(state, request, origin)
    if request.path.startswith(FILES_PREFIX):
        return serve_upload(state, request, origin)
    return json_response(404, not_found_body())


class _Handler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def _read_body(self) -> bytes | Response:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return json_response(411, {"error": "invalid_request", "message": "Content-Length required"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            return json_response(413 if length > 0 else 400, {"error": "invalid_request", "message": "Bad body"})
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        state = self.server.state
        body = self._read_body()
        request = Request.build(
            self.command, self.path, dict(self.headers.items()), body if isinstance(body, bytes) else b""
        )
        state.record(request.method, request.path, request.query, dict(self.headers.items()))
        try:
            if isinstance(body, Response):
                response = body
            elif (fault := state.take_fault(request.path)) is not None:
                if fault.delay > 0:
                    self.server.stopping.wait(fault.delay)
                response = Response(fault.status, fault.body, fault.content_type, list(fault.headers))
            else:
                response = dispatch(state, request, self.server.origin, self.server.router)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must answer 500, not kill the connection
            log.error("sandbox handler failed: %s", type(exc).__name__)
            response = json_response(500, {"error": "internal_error", "message": "Sandbox error"})
        try:
            self._send(response)
        except OSError:
            self.close_connection = True  # the client went away (e.g. it timed out on a delayed fault)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, self.path.split("?", 1)[0], code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        log.debug("sandbox http message suppressed")


class SandboxHTTPServer(ThreadingHTTPServer):
    """The HTTP server holding the sandbox state and REST route table."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SandboxState, router: RestRouter | None = None) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.router = router or default_router()
        self.stopping = threading.Event()
        host, port = str(self.server_address[0]), int(self.server_address[1])
        self.origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets its connection (a proxy abandoning a body it will not read) is
        normal here: log it quietly instead of printing a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("sandbox client dropped the connection")
            return
        super().handle_error(request, client_address)


class WordPressSandbox:
    """Runs the sandbox on loopback in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()
        self._server = SandboxHTTPServer((host, port), self.state)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._server.origin = self.origin
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="wpcom-sandbox", daemon=True
        )

    @property
    def origin(self) -> str:
        """The sandbox's origin, standing in for https://public-api.wordpress.com."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (pending fault delays end early)."""
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
