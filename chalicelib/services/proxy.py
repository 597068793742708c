"""Use case: call the provider's API on behalf of a connected end user (the SDK's `request`)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from chalicelib.adapters.connections import CredentialRepository
from chalicelib.adapters.upstream import (
    Clock,
    OutboundRequest,
    RetryPolicy,
    UpstreamResponse,
    retry_after_seconds,
    send,
)
from chalicelib.config import Settings
from chalicelib.domain.errors import BadRequest, Forbidden, IntegrationNotConnected, TetherError
from chalicelib.domain.models import CREDENTIAL_INVALID, ProjectConfig
from chalicelib.domain.providers import Provider, get_provider
from chalicelib.domain.proxy_paths import api_path
from chalicelib.services.credentials import default_credential, mark_invalid
from chalicelib.services.integrations import effective_settings
from chalicelib.services.user_tokens import VerifiedUser

# Repeated after the request may have reached WordPress.com only for these methods. POST and PATCH
# are not idempotent, and WordPress.com deletes are not either (the first trashes a post, the next
# deletes it or fails); WordPress.com ignores idempotency keys, so they change nothing here.
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
# WordPress's REST API lets `?_method=POST` (any case) turn a GET into that method.
METHOD_OVERRIDE_PARAM = "_method"
# Caller headers forwarded to the provider (an allow-list): content negotiation, conditional
# requests, the user agent, and what WordPress.com's media endpoints read from a raw upload.
# Everything else is dropped: credentials, cookies, routing and client-address headers, method
# overrides, hop-by-hop headers and the SDK's own. Tether sets Accept-Encoding itself.
FORWARDED_REQUEST_HEADERS = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Language",
        "Content-Type",
        "Content-Disposition",
        "Content-MD5",
        "User-Agent",
        "If-Match",
        "If-None-Match",
        "If-Modified-Since",
        "If-Unmodified-Since",
    )
}
_HEADER_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
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
    """The provider kept throttling (429 or its HTML limit page) after the retries allowed. The
    caller is told to wait what the provider asked for (rounded up, 1 s to an hour), else
    `DEFAULT_RETRY_AFTER` seconds."""

    status = 429
    code = "upstream_rate_limited"

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        if wait is None:
            self.retry_after = DEFAULT_RETRY_AFTER
        else:
            self.retry_after = min(max(1, math.ceil(wait)), MAX_RETRY_AFTER)


# What to tell a throttled caller when the provider said nothing, and the longest wait passed on.
DEFAULT_RETRY_AFTER = 30
MAX_RETRY_AFTER = 3600


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
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
) -> UpstreamResponse:
    """Add the user's token, call the provider's API origin, and return its answer.

    Raises 400 for a path that could leave the API, 403 when the integration is switched off,
    404 for someone else's credential id, 422 when the user must connect (or reconnect),
    429/502/504 for upstream trouble. `policy` replaces the default retries (workflow steps try
    once: Step Functions retries them).
    """
    provider = get_provider(call.integration_type)
    if not effective_settings(config, provider).active:
        raise Forbidden(f"{provider.service_name} is not active in this project.", code="integration_inactive")
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
        policy=policy or RetryPolicy(),
        clock=clock,
    )
    if _rejects_token(provider, response):
        mark_invalid(credentials, sealed)  # a no-op if the user reconnected meanwhile
        raise IntegrationNotConnected(
            f"{provider.service_name} rejected this user's token; reconnect {provider.service_name}.",
            code="integration_reconnect_required",
        )
    if response.throttled:
        raise UpstreamThrottled(
            f"{provider.service_name} is rate limiting requests; try again later.", retry_after_seconds(response)
        )
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
    """The caller's allow-listed headers, minus any the caller marked hop-by-hop in `Connection`."""
    connection = next((value for name, value in headers.items() if name.lower() == "connection"), "")
    hop_by_hop = {token.strip().lower() for token in connection.split(",")}
    forwarded: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in FORWARDED_REQUEST_HEADERS or lowered in hop_by_hop:
            continue
        value = value.strip()
        if _HEADER_VALUE_CONTROL.search(value) or not _is_unicode(value):
            raise BadRequest(f"The {name} header holds control characters or invalid text.", code="invalid_header")
        forwarded[FORWARDED_REQUEST_HEADERS[lowered]] = value
    content_type = forwarded.pop("Content-Type", None)
    if content_type is not None and body:
        forwarded["Content-Type"] = _resolve_content_type(content_type, body)
    return forwarded


def _is_unicode(value: str) -> bool:
    """False for text holding lone surrogates (it has no UTF-8 form to send)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    """Whether the request may be repeated once it may have reached the provider: its method,
    and every `_method` override in the query, must be one that is safe to repeat."""
    methods = {call.method.upper()}
    methods.update(value.strip().upper() for key, value in call.query if key == METHOD_OVERRIDE_PARAM)
    return methods <= RETRYABLE_METHODS


def _rejects_token(provider: Provider, response: UpstreamResponse) -> bool:
    if response.status not in (400, 401, 403) or "json" not in (response.header("Content-Type") or ""):
        return False
    try:
        body = json.loads(response.body)
    except (ValueError, RecursionError):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, str) and error in provider.invalid_token_errors
