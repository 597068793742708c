"""HTTP plumbing shared by the blueprints: JSON bodies, JSON errors, CORS and path checks."""

from __future__ import annotations

import functools
import json
import logging
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, CORSConfig, Request, Response

from chalicelib.domain.errors import BadRequest, NotFound, PayloadTooLarge, TetherError, UnsupportedMediaType

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
SDK_CORS = CORSConfig(allow_origin="*", allow_headers=SDK_REQUEST_HEADERS, expose_headers=[ERROR_HEADER], max_age=600)
PROXY_CORS = CORSConfig(
    allow_origin="*",
    allow_headers=[*SDK_REQUEST_HEADERS, "Idempotency-Key", "X-Idempotency-Key"],
    expose_headers=[ERROR_HEADER],
    max_age=600,
)

View = Callable[..., Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response that caches nowhere."""
    return Response(body=json.dumps(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})})


def error_response(error: TetherError) -> Response:
    """The `{"message", "code"}` body every Tether error uses. The `X-Tether-Error` header tells
    clients it is Tether's own answer, not a proxied provider response."""
    return json_response(
        {"message": error.message, "code": error.code}, status=error.status, headers={ERROR_HEADER: error.code}
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


def json_route(
    blueprint: Blueprint, path: str, methods: list[str], cors: CORSConfig | None = None
) -> Callable[[View], View]:
    """Register a JSON route: every request Content-Type reaches the view (which decides what it
    accepts), and every error leaves as `{"message", "code"}`."""

    def register(view: View) -> View:
        blueprint.route(path, methods=methods, cors=cors, content_types=ACCEPT_ANY_BODY)(json_errors(view))
        return view

    return register


def json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413/415 that says what is wrong."""
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body exceeds {max_bytes} bytes.")
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain") and not content_type.endswith("+json"):
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json).")
    if not raw.strip():
        raise BadRequest("The request body is empty; a JSON object is expected.", code="invalid_json")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("The request body is not UTF-8.", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise BadRequest("The request body's JSON is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


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
