"""Outbound calls to a provider's API: pooled session, deadline-bounded timeouts, retries with
exponential backoff and full jitter, `Retry-After`, and a cap on the response size."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.http_client import http_session
from chalicelib.domain.errors import TetherError

if TYPE_CHECKING:
    import requests

log = logging.getLogger("tether.upstream")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CONNECT_TIMEOUT_SECONDS = 3.05
CHUNK_BYTES = 64 * 1024
# WordPress.com answers some throttled requests with an HTML page instead of a 429.
LIMIT_PAGE_MARKER = b"Limit reached"


class UpstreamTimeout(TetherError):
    """The provider did not answer before the request's deadline."""

    status = 504
    code = "upstream_timeout"


class UpstreamUnavailable(TetherError):
    """The provider could not be reached."""

    status = 502
    code = "upstream_unreachable"


class UpstreamTooLarge(TetherError):
    """The provider's answer is larger than a Lambda response can carry."""

    status = 502
    code = "upstream_response_too_large"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, backoff bounds and the longest `Retry-After` honoured."""

    max_attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 5.0


@dataclass(frozen=True)
class OutboundRequest:
    """One request to send; `retryable` says whether repeating it is safe."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes | None
    retryable: bool


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's final answer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    attempts: int
    throttled: bool

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass
class Clock:
    """Time sources, replaceable in tests."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random


def send(
    request: OutboundRequest,
    deadline: float,
    max_response_bytes: int,
    policy: RetryPolicy = RetryPolicy(),
    clock: Clock | None = None,
) -> UpstreamResponse:
    """Send `request`, retrying transient failures while the deadline allows."""
    import requests

    clock = clock or Clock()
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - clock.now()
        if remaining <= 0:
            raise UpstreamTimeout("The provider did not answer in time.")
        try:
            response = http_session().request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, remaining), remaining),
                stream=True,
                allow_redirects=False,
            )
            try:
                body = _read_body(response, deadline, max_response_bytes, clock)
            finally:
                response.close()
        except requests.Timeout:
            if _may_retry(request, attempt, policy) and _sleep_before_retry(
                _backoff(attempt, policy, clock), deadline, clock, "timed out"
            ):
                continue
            raise UpstreamTimeout("The provider did not answer in time.") from None
        except requests.ConnectionError:
            if _may_retry(request, attempt, policy) and _sleep_before_retry(
                _backoff(attempt, policy, clock), deadline, clock, "connection failed"
            ):
                continue
            raise UpstreamUnavailable("The provider could not be reached.") from None
        headers = [(str(k), str(v)) for k, v in response.raw.headers.items()]
        throttled = response.status_code == 429 or _is_limit_page(response, body)
        if (throttled or response.status_code in RETRY_STATUSES) and _may_retry(request, attempt, policy):
            delay = _retry_after(response, policy)
            if delay is None:
                delay = _backoff(attempt, policy, clock)
            why = "throttled" if throttled else f"answered {response.status_code}"
            if _sleep_before_retry(delay, deadline, clock, why):
                continue
        return UpstreamResponse(response.status_code, headers, body, attempt, throttled)


def _may_retry(request: OutboundRequest, attempt: int, policy: RetryPolicy) -> bool:
    return request.retryable and attempt < policy.max_attempts


def _backoff(attempt: int, policy: RetryPolicy, clock: Clock) -> float:
    """Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))]."""
    return float(clock.jitter() * min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)))


def _sleep_before_retry(delay: float, deadline: float, clock: Clock, why: str) -> bool:
    """Sleep `delay` if a retry still fits before the deadline (with a second to spare)."""
    if clock.now() + delay + 1.0 >= deadline:
        log.info("upstream %s: no time left to retry", why)
        return False
    log.info("upstream %s: retrying in %.2f s", why, delay)
    clock.sleep(delay)
    return True


def _retry_after(response: requests.Response, policy: RetryPolicy) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        seconds = float(raw)
    else:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, policy.max_retry_after))


def _is_limit_page(response: requests.Response, body: bytes) -> bool:
    content_type = response.headers.get("Content-Type", "")
    return "text/html" in content_type and LIMIT_PAGE_MARKER in body[:4096]


def _read_body(response: requests.Response, deadline: float, limit: int, clock: Clock) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UpstreamTooLarge(f"The provider's response is larger than {limit} bytes, too large to return.")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise UpstreamTooLarge(f"The provider's response is larger than {limit} bytes, too large to return.")
        if clock.now() > deadline:
            raise UpstreamTimeout("The provider did not finish answering in time.")
        chunks.append(chunk)
    return b"".join(chunks)
