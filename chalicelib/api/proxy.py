"""The proxy route: `/projects/{pid}/sdk/proxy/{integration}/{path...}` for any path depth.

Chalice's local server and test client match only fixed-depth routes (no greedy `{proxy+}`),
so the route is registered once per depth, up to `MAX_SEGMENTS`. On API Gateway those 16
resources would make the template too large, so the deploy template has one greedy resource
(`GREEDY_PATH`) instead, and `expand_greedy_proxy` hands its events to the per-depth view
with the same path parameters the local server gives it.
"""

from __future__ import annotations

import copy
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.auth import sdk_user
from chalicelib.api.http import PROXY_CORS, error_response, json_route
from chalicelib.domain.errors import NotFound, PayloadTooLarge
from chalicelib.domain.proxy_paths import MAX_SEGMENTS
from chalicelib.services import proxy as proxy_service
from chalicelib.wiring import get_services

proxy = Blueprint(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_SEGMENT_NAMES = [f"p{i}" for i in range(1, MAX_SEGMENTS + 1)]
_PREFIX = "/projects/{project_id}/sdk/proxy/{integration}/"
GREEDY_PATH = _PREFIX + "{path+}"


def depth_path(depth: int) -> str:
    """The route template of the proxy for a path of `depth` segments."""
    return _PREFIX + "/".join("{" + name + "}" for name in _SEGMENT_NAMES[:depth])


def expand_greedy_proxy(event: dict[str, Any]) -> dict[str, Any] | Response:
    """Route an event of API Gateway's greedy proxy resource to the per-depth route.

    Other events pass unchanged. A path deeper than the deepest route is a 404 `route_not_found`,
    as it is on the local server (where no route matches it)."""
    context = event.get("requestContext") or {}
    if context.get("resourcePath") != GREEDY_PATH:
        return event
    parameters = dict(event.get("pathParameters") or {})
    segments = str(parameters.pop("path", "")).split("/")
    if len(segments) > MAX_SEGMENTS:
        return error_response(NotFound("No route matches this method and path.", code="route_not_found"))
    routed = copy.copy(event)
    template = depth_path(len(segments))
    routed["requestContext"] = {**context, "resourcePath": template}
    routed["resource"] = template
    routed["pathParameters"] = {**parameters, **dict(zip(_SEGMENT_NAMES, segments, strict=False))}
    return routed


def _forward(project_id: str, integration: str, segments: list[str]) -> Response:
    services = get_services()
    started_at = services.upstream_clock.now()
    request = proxy.current_request
    config, user = sdk_user(request, project_id)
    body = request.raw_body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if len(body) > services.settings.max_proxy_body_bytes:
        raise PayloadTooLarge(f"The request body exceeds {services.settings.max_proxy_body_bytes} bytes.")
    query = request.query_params
    pairs = [(key, value) for key in query for value in query.getlist(key)] if query is not None else []
    call = proxy_service.ProxyCall(
        integration_type=integration,
        segments=segments,
        method=request.method.upper(),
        query=pairs,
        headers=dict(request.headers),
        body=body or None,
        credential_id=request.headers.get("x-paragon-credential") or None,
    )
    response = proxy_service.proxy_request(
        services.settings, services.credentials, config, user, call, started_at, services.upstream_clock
    )
    return Response(body=response.body, status_code=response.status, headers=proxy_service.response_headers(response))


def _register(depth: int) -> None:
    names = _SEGMENT_NAMES[:depth]
    path = depth_path(depth)

    def view(project_id: str, integration: str, **segments: Any) -> Response:
        return _forward(project_id, integration, [str(segments[n]) for n in names])

    view.__name__ = f"proxy_depth_{depth}"
    json_route(proxy, path, METHODS, cors=PROXY_CORS)(view)


for _depth in range(1, MAX_SEGMENTS + 1):
    _register(_depth)
