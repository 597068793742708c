"""Per-project CORS for the SDK routes.

Chalice's `CORSConfig` is static (one `Access-Control-Allow-Origin` per route, answered by API
Gateway itself for preflights), so it cannot answer each project's own origins. Routes with a
`CorsPolicy` instead get an `OPTIONS` view of their own (API Gateway passes preflights to the
function) and their headers are computed per request from the project's allowed origins:

- no origins listed: `Access-Control-Allow-Origin: *`, as before;
- origins listed: the request's `Origin` is echoed when it is allowed (with `Vary: Origin`); a
  request or preflight from another origin is refused with a 403; a request without `Origin`
  (a server, the SDK under Node) gets no CORS headers and is served. Browsers write `Origin`
  in the canonical `scheme://host[:port]` form the allowed origins are stored in, so it is
  compared as is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from chalice.app import Request

from chalicelib.domain.errors import Forbidden


@dataclass(frozen=True)
class CorsPolicy:
    """What the SDK routes allow cross-origin; the allowed origins come from the project."""

    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int = 600


class OriginNotAllowed(Forbidden):
    """A browser request from an origin the project does not list."""

    code = "origin_not_allowed"


def allowed_origins_for(project_id: str | None) -> tuple[str, ...]:
    """The project's allowed origins (cached configuration); none for an unknown or invalid id."""
    if not project_id:
        return ()
    try:
        if str(uuid.UUID(project_id)) != project_id:
            return ()
    except ValueError:
        return ()
    from chalicelib.wiring import get_services

    config = get_services().project_configs.get(project_id)
    return config.allowed_origins if config is not None else ()


def cors_headers(
    request: Request, policy: CorsPolicy, allowed: tuple[str, ...], methods: list[str], preflight: bool
) -> dict[str, str]:
    """The CORS headers for this request, or OriginNotAllowed."""
    if allowed:
        sent = request.headers.get("origin")
        if sent is None:
            return {"Vary": "Origin"}
        if sent not in allowed:
            raise OriginNotAllowed("This origin is not allowed to call this project's SDK routes.")
        origin = sent
    else:
        origin = "*"
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": ",".join(policy.allow_headers),
        "Access-Control-Expose-Headers": ",".join(policy.expose_headers),
        "Access-Control-Max-Age": str(policy.max_age),
    }
    if allowed:
        headers["Vary"] = "Origin"
    if preflight:
        headers["Access-Control-Allow-Methods"] = ",".join([*methods, "OPTIONS"])
    return headers
