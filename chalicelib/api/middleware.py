"""HTTP middleware: the access log, and a default `Accept` header."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalice.app import CaseInsensitiveMapping, Request, Response

log = logging.getLogger("tether.access")


def access_log(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Log one line per request: method, route template, status, duration.

    The route template (`/projects/{project_id}/...`) is logged, not the concrete path, and
    never the query string or headers, so ids and tokens from the URL stay out of the log."""
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = event.context.get("resourcePath", "?") if event.context else "?"
    log.info("%s %s -> %d (%.1f ms)", event.method, route, response.status_code, elapsed_ms)
    return response


def default_accept(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Treat a request without `Accept` as accepting anything (RFC 9110).

    Every response is sent as binary (proxied images pass through intact), and chalice refuses
    a binary response to a request whose `Accept` does not match, even an absent one.
    """
    if "accept" not in event.headers:
        event.headers = CaseInsensitiveMapping({**event.headers, "accept": "*/*"})
    return get_response(event)
