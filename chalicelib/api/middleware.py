"""HTTP middleware: the access log, a refusal to serve when misconfigured and a default `Accept`
header."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalice.app import CaseInsensitiveMapping, Request, Response

from chalicelib.api.http import ERROR_HEADER, error_response
from chalicelib.config import get_settings
from chalicelib.domain.errors import Misconfigured

log = logging.getLogger("tether.access")


def access_log(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Log one line per request: method, route template, status, Tether's error code (if it
    answered one), duration.

    The route template (`/projects/{project_id}/...`) is logged, not the concrete path, and
    never the query string or headers, so ids and tokens from the URL stay out of the log."""
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = event.context.get("resourcePath", "?") if event.context else "?"
    code = response.headers.get(ERROR_HEADER)
    error = f" {code}" if code else ""
    log.info("%s %s -> %d%s (%.1f ms)", event.method, route, response.status_code, error, elapsed_ms)
    return response


def refuse_misconfigured(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Answer every request with a 500 `misconfigured` while the deployment's settings are wrong
    (a missing or placeholder public URL in Lambda), logging the reason in one line."""
    try:
        get_settings()
    except Misconfigured as error:
        log.error("%s", error.message)
        return error_response(Misconfigured("The deployment is misconfigured; see the function's log."))
    return get_response(event)


def default_accept(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Treat a request without `Accept` as accepting anything (RFC 9110).

    Every response is sent as binary (proxied images pass through intact), and chalice refuses
    a binary response to a request whose `Accept` does not match, even an absent one.
    """
    if "accept" not in event.headers:
        event.headers = CaseInsensitiveMapping({**event.headers, "accept": "*/*"})
    return get_response(event)
