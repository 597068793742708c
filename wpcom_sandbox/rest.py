"""The REST API framework: a route table (method + path template -> handler), bearer-token
checks, WordPress.com error shapes, and the generic `fields`, `http_envelope` and `pretty` options.

Endpoint modules register handlers on a `RestRouter`; see `wpcom_sandbox.rest_me`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wpcom_sandbox.messages import Request, Response, json_response
from wpcom_sandbox.state import AccessToken, SandboxState

DEFAULT_VERSIONS = frozenset({"1", "1.1", "1.2"})
ME_AUTH_REQUIRED = "An active access token must be used to query information about the current user."
BAD_BEARER_MESSAGE = "The OAuth2 token is invalid."
# List keys whose items `fields` filters instead of the top-level object (WordPress.com's list).
LIST_KEYS = (
    "categories",
    "comments",
    "connections",
    "domains",
    "groups",
    "likes",
    "media",
    "notes",
    "posts",
    "services",
    "sites",
    "suggestions",
    "tags",
    "themes",
    "topics",
    "users",
)
_VERSIONED_PATH = re.compile(r"^/rest/v(\d+(?:\.\d+)*)(/.*)?$")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::(int))?\}")


class RestError(Exception):
    """An API error, rendered as `{"error": code, "message": text}` with an HTTP status."""

    def __init__(self, status: int, error: str, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.message = message
        self.headers = list(headers)


@dataclass(frozen=True)
class RestReply:
    """A handler result with a status or headers other than 200 and none."""

    body: Any
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RestCall:
    """What a handler sees: the state, the request, the API version and the path arguments."""

    state: SandboxState
    request: Request
    version: str
    args: Mapping[str, str]
    origin: str

    @property
    def api_root(self) -> str:
        """Base for `meta.links`, e.g. `http://127.0.0.1:5000/rest/v1.1`."""
        return f"{self.origin}/rest/v{self.version}"

    def arg(self, name: str) -> str | None:
        """First value of a query parameter."""
        return self.request.arg(name)

    def require_token(self, message: str = ME_AUTH_REQUIRED) -> AccessToken:
        """The request's active bearer token.

        No token or a revoked one -> 403 `authorization_required` (with `message`);
        a malformed Authorization header or a token never issued -> 400 `invalid_token`.
        """
        header = self.request.header("authorization")
        if header is None or not header.strip():
            raise RestError(403, "authorization_required", message)
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise RestError(400, "invalid_token", BAD_BEARER_MESSAGE)
        token = self.state.token(value)
        if token is None:
            raise RestError(400, "invalid_token", BAD_BEARER_MESSAGE)
        if token.revoked:
            raise RestError(403, "authorization_required", message)
        return token


# A handler returns a JSON value, a `RestReply`, or a `Response` sent as is; it raises `RestError`.
RestHandler = Callable[[RestCall], Any]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path template (e.g. `/sites/{site}/posts/{post_id:int}`), versions."""

    method: str
    template: str
    handler: RestHandler
    versions: frozenset[str]
    pattern: re.Pattern[str]


def compile_template(template: str) -> re.Pattern[str]:
    """`{name}` matches one path segment, `{name:int}` digits only; a trailing slash is optional."""
    regex, position = "", 0
    for match in _PLACEHOLDER.finditer(template):
        regex += re.escape(template[position : match.start()])
        segment = r"\d+" if match.group(2) == "int" else r"[^/?&]+"
        regex += f"(?P<{match.group(1)}>{segment})"
        position = match.end()
    regex += re.escape(template[position:].rstrip("/"))
    return re.compile(f"^{regex}$")


class RestRouter:
    """The route table for `/rest/v<version>/...`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: RestHandler, versions: Iterable[str] = DEFAULT_VERSIONS) -> None:
        """Register a handler."""
        route = Route(method.upper(), template, handler, frozenset(versions), compile_template(template))
        self.routes.append(route)

    def route(
        self, method: str, template: str, versions: Iterable[str] = DEFAULT_VERSIONS
    ) -> Callable[[RestHandler], RestHandler]:
        """Decorator form of `add`."""

        def register(handler: RestHandler) -> RestHandler:
            self.add(method, template, handler, versions)
            return handler

        return register

    def dispatch(self, state: SandboxState, request: Request, origin: str) -> Response:
        """Serve a request whose path starts with `/rest/`."""
        match = _VERSIONED_PATH.match(request.path)
        if match is None:
            return finish(request, 404, not_found_body())
        version, path = match.group(1), (match.group(2) or "").rstrip("/")
        allowed: list[str] = []
        for route in self.routes:
            if version not in route.versions:
                continue
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            call = RestCall(state, request, version, found.groupdict(), origin)
            try:
                result = route.handler(call)
            except RestError as error:
                return finish(request, error.status, {"error": error.error, "message": error.message}, error.headers)
            if isinstance(result, Response):
                return result  # raw bytes (e.g. a media file): no `fields` or `http_envelope`
            reply = result if isinstance(result, RestReply) else RestReply(result)
            return finish(request, reply.status, filter_fields(reply.body, request.arg("fields")), reply.headers)
        if allowed:
            body = {"error": "not_allowed", "error_message": "Method not allowed"}
            return finish(request, 405, body, [("Allow", ",".join(sorted(set(allowed))))])
        return finish(request, 404, not_found_body())


def not_found_body() -> dict[str, str]:
    """The body of a 404 for an unknown endpoint."""
    return {"error": "unknown_endpoint", "message": "Endpoint not found"}


def is_truthy(value: str | None) -> bool:
    """WordPress.com's reading of boolean query parameters."""
    return (value or "").strip().lower() in {"1", "t", "true"}


def filter_fields(body: Any, fields: str | None) -> Any:
    """Apply `fields=a,b`: filter the items of the first list key present, else the object itself."""
    if not fields or not isinstance(body, dict) or body.get("error"):
        return body
    wanted = {name.strip() for name in fields.split(",")}
    if not body.get("ID"):
        for key in LIST_KEYS:
            items = body.get(key)
            if isinstance(items, list):
                filtered = [_pick(item, wanted) if isinstance(item, dict) else item for item in items]
                return {**body, key: filtered}
            if isinstance(items, dict):
                filtered_map = {k: _pick(v, wanted) if isinstance(v, dict) else v for k, v in items.items()}
                return {**body, key: filtered_map}
    return _pick(body, wanted)


def _pick(item: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key in wanted}


def finish(request: Request, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Render a REST result, honouring `http_envelope` (always 200, real status inside) and `pretty`."""
    extra = list(headers)
    cors = [("Access-Control-Allow-Origin", "*")] if status in (400, 404) else []
    pretty = is_truthy(request.arg("pretty"))
    if is_truthy(request.arg("http_envelope")):
        listed = [{"name": "Content-Type", "value": "application/json"}]
        listed += [{"name": name, "value": value} for name, value in extra]
        return json_response(200, {"code": status, "headers": listed, "body": body}, cors, pretty=pretty)
    return json_response(status, body, extra + cors, pretty=pretty)
