"""Serves the Chalice app over HTTP on loopback, like API Gateway, for the local stack.

Differs from `chalice local` where Tether's rules require it: the server's own request log
records method and status only, never the request line (the SDK puts user tokens in query
strings; the app's access log records route templates), and an unknown route answers a JSON
404 instead of echoing the Authorization header.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalGatewayException, ThreadedHTTPServer

from tether.demo_site import DemoSite

log = logging.getLogger("tether.local")


class TetherRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler with a safe request log and JSON errors for unknown routes."""

    server: DemoAwareServer
    # Chalice writes headers and body separately; without TCP_NODELAY a kept-alive connection
    # waits ~40 ms for the client's delayed ACK before the body goes out.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        demo = self.server.demo
        path, _, query = self.path.partition("?")
        answer = demo.get(path, query) if demo is not None else None
        if answer is None:
            self._generic_handle()
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(answer.body)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        body = json.dumps({"message": "No route matches this method and path.", "code": "route_not_found"})
        headers = {
            "Content-Type": "application/json",
            "Access-Control-Allow-Origin": "*",
            "X-Tether-Error": "route_not_found",
        }
        self._send_http_response(404, headers, body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The app's access log already records each routed request by its route template;
        # here only the method and status, so no id from a concrete path is logged twice.
        log.debug("%s -> %s", self.command, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        # The base class passes the raw request line (with its query string) here: drop it.
        log.debug("http server message suppressed")


class DemoAwareServer(ThreadedHTTPServer):
    """The threaded server, optionally serving the demo page beside the API."""

    demo: DemoSite | None = None


class LocalApiServer:
    """The Chalice app on a threaded HTTP server, started in a background thread."""

    def __init__(self, app: Chalice, host: str, port: int) -> None:
        config = Config.create(chalice_app=app, lambda_timeout=30)
        handler = functools.partial(TetherRequestHandler, app_object=app, config=config)
        self._server = DemoAwareServer((host, port), handler)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="tether-api", daemon=True)

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"http://{self.host}:{self.port}"

    def serve_demo(self, demo: DemoSite) -> None:
        """Also serve the demo page at `/demo/`."""
        self._server.demo = demo

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def close(self) -> None:
        """Close the socket of a server that was never started."""
        self._server.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
