"""Outbound calls to a provider's API: pooled session, one deadline for the whole call (the body
included), retries with exponential backoff and full jitter, `Retry-After`, a cap on the response
size, and a 502 for any answer that is malformed or breaks off.

Retry rule: a failure to connect (nothing was sent) is retried for every request; anything that
may have reached the provider (a timeout or reset after sending, a broken or 429/5xx answer) is
retried only when `OutboundRequest.retryable` says repeating the request is safe."""

from __future__ import annotations

import logging
import random
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.http_client import FoldedHeaderError, SocketWatch, deadline_watch, http_session
from chalicelib.domain.errors import TetherError

if TYPE_CHECKING:
    import requests

log = logging.getLogger("tether.upstream")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CONNECT_TIMEOUT_SECONDS = 3.05
CHUNK_BYTES = 64 * 1024
# WordPress.com answers some throttled requests with an HTML page instead of a 429.
LIMIT_PAGE_MARKER = b"Limit reached"
# What the HTTP client decodes itself; the caller's Accept-Encoding is never what is asked for.
ACCEPT_ENCODING = "gzip, deflate"
DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity"})
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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


class UpstreamBadResponse(TetherError):
    """The provider's answer was malformed (folded or control characters in a header, a body that
    does not decode, an impossible status) or broke off mid-body."""

    status = 502
    code = "upstream_bad_response"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, backoff bounds and the longest `Retry-After` honoured."""

    max_attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 5.0


@dataclass(frozen=True)
class OutboundRequest:
    """One request to send. `retryable` says whether repeating it is safe once it may have
    reached the provider; a request that never left (connect error) is retried regardless."""

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
    """Send `request`, retrying transient failures while the rules and the deadline allow."""
    clock = clock or Clock()
    headers = _wire_headers(request.headers)
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - clock.now()
        if remaining <= 0:
            raise UpstreamTimeout("The provider did not answer in time.")
        try:
            answer = _attempt(request, headers, remaining, deadline, max_response_bytes, clock)
        except _Failure as failure:
            if _may_retry(request, attempt, policy, failure.never_sent) and _sleep_before_retry(
                _backoff(attempt, policy, clock), deadline, clock, failure.why
            ):
                continue
            raise failure.error from None
        throttled = answer.status == 429 or _is_limit_page(answer)
        if (throttled or answer.status in RETRY_STATUSES) and _may_retry(request, attempt, policy, False):
            delay = _retry_after(answer, policy)
            if delay is None:
                delay = _backoff(attempt, policy, clock)
            why = "throttled" if throttled else f"answered {answer.status}"
            if _sleep_before_retry(delay, deadline, clock, why):
                continue
        return UpstreamResponse(answer.status, answer.headers, answer.body, attempt, throttled)


class _Failure(Exception):
    """One attempt failed: the error to report if no retry follows, and whether the request
    certainly never left (then a retry is safe whatever the method)."""

    def __init__(self, error: TetherError, never_sent: bool, why: str) -> None:
        super().__init__(why)
        self.error = error
        self.never_sent = never_sent
        self.why = why


def _timed_out(never_sent: bool = False) -> _Failure:
    return _Failure(UpstreamTimeout("The provider did not answer in time."), never_sent, "timed out")


def _broken(message: str) -> _Failure:
    return _Failure(UpstreamBadResponse(message), False, "answer broken")


def _attempt(
    request: OutboundRequest,
    headers: dict[str, str | bytes],
    remaining: float,
    deadline: float,
    limit: int,
    clock: Clock,
) -> UpstreamResponse:
    """One exchange, cut off when the deadline passes wherever it is stuck (connecting, sending,
    waiting for headers, reading the body)."""
    import requests

    with deadline_watch(remaining) as watch:
        try:
            response = http_session().request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, remaining), remaining),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            never_sent = _never_sent(exc)
            if _caused_by(exc, FoldedHeaderError):
                raise _broken("The provider's response has a folded header.") from None
            if watch.fired or isinstance(exc, requests.Timeout):
                raise _timed_out(never_sent) from None
            error = UpstreamUnavailable("The provider could not be reached, or dropped the connection.")
            raise _Failure(error, never_sent, "connection failed") from None
        try:
            return _read_response(response, watch, deadline, limit, clock)
        finally:
            response.close()


def _wire_headers(headers: dict[str, str]) -> dict[str, str | bytes]:
    """The headers as sent: ours for Accept-Encoding, and values that are not Latin-1 as UTF-8
    bytes (the HTTP library would otherwise fail to encode them)."""
    wire: dict[str, str | bytes] = {}
    for name, value in headers.items():
        if name.lower() == "accept-encoding":
            continue
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            wire[name] = value.encode("utf-8")
        else:
            wire[name] = value
    wire["Accept-Encoding"] = ACCEPT_ENCODING
    return wire


def _caused_by(exc: BaseException, wanted: type[BaseException]) -> bool:
    """True when `wanted` is among the exceptions wrapped inside `exc` (urllib3 and requests nest
    the original error in `args`, `reason` and `__cause__`)."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, wanted):
            return True
        seen.add(id(current))
        pending.extend([*current.args, getattr(current, "reason", None), current.__cause__, current.__context__])
    return False


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection could not be opened, so the request cannot have reached anyone."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    # NewConnectionError (refused, unreachable) and NameResolutionError are ConnectTimeoutErrors.
    return isinstance(reason, ConnectTimeoutError)


def _may_retry(request: OutboundRequest, attempt: int, policy: RetryPolicy, never_sent: bool) -> bool:
    return (never_sent or request.retryable) and attempt < policy.max_attempts


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


def retry_after_seconds(answer: UpstreamResponse) -> float | None:
    """The wait an answer's `Retry-After` asks for (seconds or an HTTP date; never negative), or
    None without a readable one."""
    raw = answer.header("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():  # str.isdigit() alone also takes "²", which float() refuses
        seconds = float(raw)
    else:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return max(0.0, seconds)


def _retry_after(answer: UpstreamResponse, policy: RetryPolicy) -> float | None:
    seconds = retry_after_seconds(answer)
    return None if seconds is None else min(seconds, policy.max_retry_after)


def _is_limit_page(answer: UpstreamResponse) -> bool:
    return "text/html" in (answer.header("Content-Type") or "") and LIMIT_PAGE_MARKER in answer.body[:4096]


def _read_response(
    response: requests.Response, watch: SocketWatch, deadline: float, limit: int, clock: Clock
) -> UpstreamResponse:
    """Check the status line and headers, then read and decode the body within the size cap
    (`attempts` and `throttled` of the result are filled in by `send`)."""
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    if not 200 <= response.status_code <= 599:
        raise _broken(f"The provider answered with status {response.status_code}.")
    headers = _checked_headers(response)
    codings = [c.strip().lower() for c in response.headers.get("Content-Encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1 or any(coding not in DECODED_ENCODINGS for coding in codings):
        raise _broken("The provider answered with a content encoding that was not asked for.")
    try:
        body = _read_body(response, _Inflater(codings[0]) if codings else None, deadline, limit, clock)
    except (HTTPError, OSError) as exc:  # a reset or truncated body, a bad chunk, a read timeout
        if watch.fired or isinstance(exc, ReadTimeoutError):
            raise _timed_out() from None
        raise _broken("The provider's response broke off.") from None
    except zlib.error:
        raise _broken("The provider's compressed response could not be decoded.") from None
    if watch.fired:  # the cut can look like the normal end of a body without a length
        raise _timed_out()
    return UpstreamResponse(response.status_code, headers, body, attempts=0, throttled=False)


class _Inflater:
    """Decodes a gzip or deflate body incrementally, never producing more than asked per call
    (a small compressed body cannot expand past the size cap in memory), and tells a complete
    stream from a truncated one."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, max_out: int) -> bytes:
        """Decoded bytes for `data`, at most `max_out` (more input than that needs is dropped:
        the caller refuses the body as too large)."""
        if not self._started and data:
            self._started = True
            if not self._gzip:
                try:
                    return self._obj.decompress(data, max_out)
                except zlib.error:
                    # Some servers send raw deflate without the zlib wrapper HTTP asks for.
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        out = self._obj.decompress(data, max_out)
        if self._obj.eof and self._obj.unused_data and self._gzip and len(out) < max_out:
            rest, self._obj = self._obj.unused_data, zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += self.feed(rest, max_out - len(out))  # another gzip member follows
        return out

    def check_complete(self) -> None:
        """Raise zlib.error when the stream stopped before its end (an empty body is fine)."""
        if self._started and not self._obj.eof:
            raise zlib.error("compressed stream is truncated")


def _checked_headers(response: requests.Response) -> list[tuple[str, str]]:
    """The response headers, refusing names that are not tokens and values with control
    characters (a bare-LF fold, NUL, ...), which could split or corrupt Tether's own response.
    (CRLF folds are refused earlier, by the session's connections.)"""
    headers = [(str(k), str(v)) for k, v in response.raw.headers.items()]
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name) or _HEADER_VALUE_CONTROL.search(value):
            raise _broken("The provider's response has a malformed header.")
    return headers


def _read_body(
    response: requests.Response, inflater: _Inflater | None, deadline: float, limit: int, clock: Clock
) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UpstreamTooLarge(f"The provider's response is larger than {limit} bytes, too large to return.")
    chunks: list[bytes] = []
    size = 0
    for raw in response.raw.stream(CHUNK_BYTES, decode_content=False):
        chunk = inflater.feed(raw, max(limit - size, 0) + 1) if inflater is not None else raw
        size += len(chunk)
        if size > limit:
            raise UpstreamTooLarge(f"The provider's response is larger than {limit} bytes, too large to return.")
        if clock.now() > deadline:
            raise UpstreamTimeout("The provider did not finish answering in time.")
        chunks.append(chunk)
    if inflater is not None:
        inflater.check_complete()
    return b"".join(chunks)
