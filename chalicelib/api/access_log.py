"""Access log middleware: method, route template, status and duration; never query strings,
path values or headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalice.app import Request, Response

log = logging.getLogger("tether.access")


def access_log(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Log one line per request. The route template (`/projects/{project_id}/...`) is logged,
    not the concrete path, so ids and tokens from the URL never reach the log."""
    started = time.perf_counter()
    response = get_response(event)
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = event.context.get("resourcePath", "?") if event.context else "?"
    log.info("%s %s -> %d (%.1f ms)", event.method, route, response.status_code, elapsed_ms)
    return response
