"""Use case: call the provider's API on behalf of a connected end user (the SDK's `request`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from chalicelib.adapters.connections import CredentialRepository
from chalicelib.adapters.upstream import OutboundRequest, RetryPolicy, UpstreamResponse, send
from chalicelib.config import Settings
from chalicelib.domain.errors import BadRequest, IntegrationNotConnected, TetherError
from chalicelib.domain.models import CREDENTIAL_INVALID, ProjectConfig
from chalicelib.domain.providers import Provider, get_provider
from chalicelib.domain.proxy_paths import api_path
from chalicelib.services.credentials import default_credential, mark_invalid
from chalicelib.services.user_tokens import VerifiedUser

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_HEADERS = ("idempotency-key", "x-idempotency-key")
# Never forwarded: hop-by-hop headers, the caller's credentials and routing, and Tether's own.
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
        "origin",
        "referer",
        "forwarded",
        "via",
        "x-real-ip",
    }
)
DROPPED_REQUEST_PREFIXES = ("x-paragon-", "x-forwarded-", "x-amz", "cloudfront-", "sec-", "access-control-")
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "set-cookie",
        "content-length",
        "content-encoding",
    }
)


DROPPED_RESPONSE_PREFIXES = ("access-control-", "x-tether-")


class UpstreamThrottled(TetherError):
    """The provider kept throttling (429 or its HTML limit page) after the retries allowed."""

    status = 429
    code = "upstream_rate_limited"


@dataclass(frozen=True)
class ProxyCall:
    """One proxied request as the SDK sent it."""

    integration_type: str
    segments: list[str]
    method: str
    query: list[tuple[str, str]]
    headers: dict[str, str] = field(repr=False)
    body: bytes | None
    credential_id: str | None


def proxy_request(
    settings: Settings,
    credentials: CredentialRepository,
    config: ProjectConfig,
    user: VerifiedUser,
    call: ProxyCall,
    started_at: float,
) -> UpstreamResponse:
    """Add the user's token, call the provider's API origin, and return its answer.

    Raises 400 for a path that could leave the API, 404 for someone else's credential id,
    422 when the user must connect (or reconnect), 429/502/504 for upstream trouble.
    """
    provider = get_provider(call.integration_type)
    path = api_path(provider.api_paths, call.segments)
    candidates = credentials.candidates(config.project.id, user.user_id, provider.type, call.credential_id)
    chosen = default_credential([c.credential for c in candidates])
    if chosen is None:
        raise IntegrationNotConnected(
            f"Connect {provider.service_name} first: this user has no {provider.service_name} account connected.",
            code="integration_not_connected",
        )
    if chosen.status == CREDENTIAL_INVALID:
        raise IntegrationNotConnected(
            f"{provider.service_name} no longer accepts this user's connection; reconnect {provider.service_name}.",
            code="integration_reconnect_required",
        )
    sealed = next(c for c in candidates if c.credential.id == chosen.id)
    access_token = str(credentials.open_tokens(sealed).get("accessToken", ""))
    url = _upstream_url(settings.wpcom_origin, path, call.query)
    outbound = OutboundRequest(
        method=call.method,
        url=url,
        headers={**_forwarded_headers(call.headers, call.body), "Authorization": f"Bearer {access_token}"},
        body=call.body or None,
        retryable=_retryable(call),
    )
    response = send(
        outbound,
        deadline=started_at + settings.proxy_deadline_seconds,
        max_response_bytes=settings.max_proxy_response_bytes,
        policy=RetryPolicy(),
    )
    if _rejects_token(provider, response):
        mark_invalid(credentials, sealed)  # a no-op if the user reconnected meanwhile
        raise IntegrationNotConnected(
            f"{provider.service_name} rejected this user's token; reconnect {provider.service_name}.",
            code="integration_reconnect_required",
        )
    if response.throttled:
        raise UpstreamThrottled(f"{provider.service_name} is rate limiting requests; try again later.")
    return response


def response_headers(response: UpstreamResponse) -> dict[str, str | list[str]]:
    """Upstream headers to pass back: hop-by-hop headers and Set-Cookie removed, and the
    provider's own CORS or `X-Tether-*` headers too (Tether's answer sets those)."""
    merged: dict[str, list[str]] = {}
    for name, value in response.headers:
        lowered = name.lower()
        if lowered not in DROPPED_RESPONSE_HEADERS and not lowered.startswith(DROPPED_RESPONSE_PREFIXES):
            merged.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in merged.items()}


def _upstream_url(origin: str, path: str, query: list[tuple[str, str]]) -> str:
    url = origin.rstrip("/") + path + (("?" + urlencode(query)) if query else "")
    # Defence in depth: whatever the path held, the request stays on the provider's origin.
    if urlsplit(url).netloc != urlsplit(origin).netloc:
        raise BadRequest("The proxy path would leave the provider's API origin.", code="invalid_proxy_path")
    return url


def _forwarded_headers(headers: dict[str, str], body: bytes | None) -> dict[str, str]:
    forwarded = {
        name: value
        for name, value in headers.items()
        if name.lower() not in DROPPED_REQUEST_HEADERS and not name.lower().startswith(DROPPED_REQUEST_PREFIXES)
    }
    content_type_key = next((k for k in forwarded if k.lower() == "content-type"), None)
    if content_type_key is not None:
        content_type = forwarded.pop(content_type_key)
        if body:
            forwarded["Content-Type"] = _resolve_content_type(content_type, body)
    return forwarded


def _resolve_content_type(declared: str, body: bytes) -> str:
    """The SDK sends `Content-Type: auto` unless the caller chose one: infer it from the body."""
    if declared.strip().lower() != "auto":
        return declared
    try:
        json.loads(body)
    except RecursionError:
        return "application/json"  # JSON nested deeper than Python parses: still JSON to forward
    except ValueError:
        return "application/x-www-form-urlencoded" if b"=" in body else "application/octet-stream"
    return "application/json"


def _retryable(call: ProxyCall) -> bool:
    if call.method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(name.lower() in IDEMPOTENCY_HEADERS for name in call.headers)


def _rejects_token(provider: Provider, response: UpstreamResponse) -> bool:
    if response.status not in (400, 401, 403) or "json" not in (response.header("Content-Type") or ""):
        return False
    try:
        body = json.loads(response.body)
    except (ValueError, RecursionError):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, str) and error in provider.invalid_token_errors


def monotonic_now() -> float:
    """The clock the proxy's deadline is measured on."""
    return time.monotonic()
