"""HTTP plumbing shared by the blueprints: JSON bodies, JSON errors, CORS and path checks."""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.api.cors import CorsPolicy, OriginNotAllowed, allowed_origins_for, cors_headers
from chalicelib.domain.errors import BadRequest, NotFound, PayloadTooLarge, TetherError, UnsupportedMediaType
from chalicelib.domain.validation import has_unpaired_surrogate

log = logging.getLogger("tether.api")

ERROR_HEADER = "X-Tether-Error"
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
ACCEPT_ANY_BODY = ["*/*"]

# Headers the Paragon SDK sends (it always sends Authorization, so `*` alone would not do).
SDK_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Paragon-SDK-Version",
    "X-Paragon-Credential",
    "X-Paragon-Configuration-Id",
    "X-Paragon-Use-Sdk-Auth",
    "X-Paragon-Preview-Mode",
]
# The allowed origins are the project's (see chalicelib/api/cors.py).
# Retry-After is not a CORS-safelisted response header: a browser sees it only when exposed.
SDK_CORS = CorsPolicy(allow_headers=tuple(SDK_REQUEST_HEADERS), expose_headers=(ERROR_HEADER, "Retry-After"))
PROXY_CORS = CorsPolicy(
    allow_headers=(*SDK_REQUEST_HEADERS, "Idempotency-Key", "X-Idempotency-Key"),
    expose_headers=(ERROR_HEADER, "Retry-After"),
)

View = Callable[..., Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response that caches nowhere."""
    # allow_nan=False: NaN/Infinity are not JSON; emitting one is a loud server error, never
    # a body JavaScript clients cannot parse.
    text = json.dumps(body, allow_nan=False)
    return Response(body=text, status_code=status, headers={**JSON_HEADERS, **(headers or {})})


def error_response(error: TetherError) -> Response:
    """The `{"message", "code"}` body every Tether error uses. The `X-Tether-Error` header tells
    clients it is Tether's own answer, not a proxied provider response."""
    headers = {ERROR_HEADER: error.code}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return json_response(
        {**error.details(), "message": error.message, "code": error.code}, status=error.status, headers=headers
    )


def json_errors(view: View) -> View:
    """Map domain errors to JSON responses, and anything unexpected to a JSON 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except TetherError as error:
            if error.status >= 500:
                log.error("request failed: %s (%s)", error.code, type(error).__name__)
            return error_response(error)
        except Exception as exc:  # noqa: BLE001 - last line of defence, never a chalice-shaped 500
            # Log the exception type and traceback frames, not its message: messages of
            # third-party exceptions can quote request data.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled %s\n%s", type(exc).__name__, frames)
            return error_response(TetherError("Internal server error.", code="internal_error"))

    return wrapper


# Per blueprint and path: the methods registered with a CORS policy (their OPTIONS view reads it).
_CORS_METHODS: dict[tuple[int, str], list[str]] = {}


def json_route(
    blueprint: Blueprint, path: str, methods: list[str], cors: CorsPolicy | None = None
) -> Callable[[View], View]:
    """Register a JSON route: every request Content-Type reaches the view (which decides what it
    accepts), and every error leaves as `{"message", "code"}`. With a CORS policy the route
    answers its project's allowed origins, preflights (OPTIONS) included."""

    def register(view: View) -> View:
        handler = json_errors(_refusing_unencodable_text(blueprint, view))
        if cors is not None:
            handler = _with_cors(blueprint, path, methods, cors, handler)
        blueprint.route(path, methods=methods, content_types=ACCEPT_ANY_BODY)(handler)
        return view

    return register


def unencodable_text(request: Request) -> BadRequest | None:
    """A 400 when a path segment, query parameter or header holds a lone UTF-16 surrogate.

    Such a string cannot be encoded as UTF-8, so it would fail later, deep inside DynamoDB's
    or a JSON encoder's serialisation, as a 500. JSON bodies are checked where they are parsed.
    Checked inside the route (not in a middleware) so the refusal carries the route's CORS
    headers and a browser can read it."""
    query = request.query_params
    places = {
        "path": list((request.uri_params or {}).values()),
        "query string": [part for key in (query or {}) for part in (key, *query.getlist(key))] if query else [],
        "headers": [part for name, value in request.headers.items() for part in (name, value)],
    }
    for where, texts in places.items():
        if any(isinstance(text, str) and has_unpaired_surrogate(text) for text in texts):
            return BadRequest(f"The request's {where} holds text that is not valid Unicode.", code="invalid_encoding")
    return None


def _refusing_unencodable_text(blueprint: Blueprint, view: View) -> View:
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        refusal = unencodable_text(blueprint.current_request)
        if refusal is not None:
            raise refusal
        return view(*args, **kwargs)

    return checked


def _with_cors(blueprint: Blueprint, path: str, methods: list[str], policy: CorsPolicy, handler: View) -> View:
    key = (id(blueprint), path)
    first = key not in _CORS_METHODS
    registered = _CORS_METHODS.setdefault(key, [])
    registered.extend(m for m in methods if m not in registered)

    def answer(kwargs: dict[str, Any], preflight: bool, respond: Callable[[], Response]) -> Response:
        allowed = allowed_origins_for(kwargs.get("project_id"))
        try:
            headers = cors_headers(blueprint.current_request, policy, allowed, registered, preflight)
        except OriginNotAllowed as refused:
            response = error_response(refused)
            response.headers["Vary"] = "Origin"
            return response
        response = respond()
        vary = headers.pop("Vary", None)
        response.headers.update(headers)
        existing = response.headers.get("Vary")
        if vary is not None:
            response.headers["Vary"] = f"{existing}, {vary}" if isinstance(existing, str) and existing else vary
        return response

    @json_errors
    @functools.wraps(handler)
    def with_cors(*args: Any, **kwargs: Any) -> Response:
        return answer(kwargs, False, lambda: handler(*args, **kwargs))

    if first:

        @json_errors
        def preflight(**kwargs: Any) -> Response:
            return answer(kwargs, True, lambda: Response(body="", status_code=200))

        preflight.__name__ = f"{handler.__name__}_preflight"
        blueprint.route(path, methods=["OPTIONS"], content_types=ACCEPT_ANY_BODY)(preflight)
    return with_cors


def json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413/415 that says what is wrong."""
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate fails the UTF-8 check below
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body exceeds {max_bytes} bytes.")
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain") and not content_type.endswith("+json"):
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json).")
    if not raw.strip():
        raise BadRequest("The request body is empty; a JSON object is expected.", code="invalid_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not UTF-8.", code="invalid_json") from None
    body = parse_json_text(text, "The request body")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


class _NotFinite(ValueError):
    """A JSON number that is not finite (NaN, Infinity, or a float literal that overflows)."""


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotFinite(literal)
    return value


# A `\uD800`-`\uDFFF` escape: the only way a JSON text decoded from UTF-8 can carry a surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json_text(text: str, what: str) -> Any:
    """Parse untrusted JSON text strictly, or raise a 400 `invalid_json` naming the problem.

    Beyond the JSON grammar it refuses `NaN`/`Infinity` (and float literals that overflow to
    infinity), integers too long for Python to convert, nesting deeper than Python parses and
    unpaired surrogate escapes (`"\\ud800"`), which no later UTF-8 encoding can store.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite:
        raise BadRequest(f"{what} holds NaN or Infinity, which JSON does not allow.", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            code="invalid_json",
        ) from None
    except ValueError:  # int() refuses literals of more than sys.get_int_max_str_digits() digits
        raise BadRequest(f"{what} holds a number with too many digits.", code="invalid_json") from None
    except RecursionError:
        raise BadRequest(f"{what}'s JSON is nested too deeply.", code="invalid_json") from None
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(value):
        raise BadRequest(f"{what} holds an unpaired UTF-16 surrogate (\\ud800-\\udfff).", code="invalid_json")
    return value


def _holds_surrogate(value: Any) -> bool:
    """True if any string in a parsed JSON value (keys included) holds a surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_unpaired_surrogate(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def project_id_param(project_id: str) -> str:
    """Check a `{project_id}` path segment is a project id (a UUID)."""
    try:
        canonical = str(uuid.UUID(project_id))
    except ValueError:
        canonical = ""
    if canonical != project_id:
        raise NotFound("No such project.", code="project_not_found")
    return canonical


def query_params(request: Request) -> dict[str, str]:
    """The query string as a plain dict (last value wins; chalice gives None for no query)."""
    params = request.query_params
    if params is None:
        return {}
    return {str(key): str(params[key]) for key in params}


def int_param(raw: str | None, name: str, *, code: str, default: int, minimum: int, maximum: int) -> int:
    """A whole-number query parameter in `[minimum, maximum]`, or a 400 with `code`.

    Only ASCII digits count: `str.isdigit()` and `int()` also accept `²` or `٣`, and `int()`
    refuses digit strings longer than 4,300 characters."""
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        raise BadRequest(f"{name} must be a whole number from {minimum} to {maximum}.", code=code)
    return int(raw)
