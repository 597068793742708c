"""The upstream client's rules, against a misbehaving loopback server and an injected clock (no
real sleeps): what is retried and when, the deadline, the `Retry-After` cap, the response cap on
streamed bodies, and broken answers becoming `UpstreamBadResponse` (a 502)."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from chalicelib.adapters import upstream
from chalicelib.adapters.http_client import reset_http_session
from chalicelib.adapters.upstream import (
    Clock,
    OutboundRequest,
    RetryPolicy,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
    send,
)
from tests.fault_server import (
    BROKEN_ANSWERS,
    FaultServer,
    chunked,
    gzipped,
    hang,
    head,
    json_ok,
    reset_after,
    respond,
)
from tests.fault_server import send as send_raw


@dataclass
class FakeClock:
    """Time stands still except when the code under test sleeps; every sleep is recorded."""

    at: float = 1000.0
    jitter: float = 1.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[], None] | None = None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.at += seconds
        if self.on_sleep is not None:
            self.on_sleep()

    @property
    def clock(self) -> Clock:
        return Clock(now=lambda: self.at, sleep=self.sleep, jitter=lambda: self.jitter)


@pytest.fixture(autouse=True)
def fresh_session() -> Iterator[None]:
    reset_http_session()
    yield
    reset_http_session()


def request(server: FaultServer, method: str = "GET", retryable: bool | None = None, **headers: str) -> OutboundRequest:
    body = b'{"title": "x"}' if method in ("POST", "PUT", "PATCH") else None
    safe = method == "GET" if retryable is None else retryable
    return OutboundRequest(method, server.origin + "/rest/v1.1/me", dict(headers), body, safe)


# --- connect errors: the request never left, so any method is retried ---------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_connect_error_is_retried_for_every_method(method: str) -> None:
    fake = FakeClock()
    with FaultServer(json_ok(), listening=False) as server:
        fake.on_sleep = server.listen  # the provider comes back while the client waits
        response = send(request(server, method), fake.at + 20, 10_000, clock=fake.clock)
    assert response.status == 200
    assert response.attempts == 2
    assert len(fake.sleeps) == 1
    assert [r.method for r in server.received] == [method]


def test_connect_errors_stop_at_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock()
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=1.0)
    with (
        caplog.at_level(logging.INFO, logger="tether.upstream"),
        FaultServer(listening=False) as server,
        pytest.raises(UpstreamUnavailable) as raised,
    ):
        send(request(server), fake.at + 4.5, 10_000, policy, fake.clock)
    # Attempts at t=0, 1, 2, 3; the next retry would end within the last second: none.
    assert fake.sleeps == [1.0, 1.0, 1.0]
    assert raised.value.message == "The provider could not be reached, or dropped the connection."
    assert [m for m in caplog.messages if m.startswith("upstream ")] == [
        *["upstream connection failed: retrying in 1.00 s"] * 3,
        "upstream connection failed: no time left to retry",
    ]


@contextlib.contextmanager
def stalled_listener() -> Iterator[str]:
    """An origin whose connects hang: a listening socket whose one-place accept queue is full
    (Linux drops further SYNs, so the client waits for the handshake until it gives up)."""
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        first.connect(listener.getsockname())
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_stalled_connect_is_given_up_after_the_connect_timeout_and_retried_even_for_a_post(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The connect timeout is shorter than the deadline: a handshake that never ends means the
    request never left, so it is retried (a POST too) while the deadline leaves time."""
    monkeypatch.setattr(upstream, "CONNECT_TIMEOUT_SECONDS", 0.2)
    clock = Clock(now=time.monotonic, sleep=lambda seconds: None, jitter=lambda: 0.0)
    outcome: list[UpstreamTimeout] = []

    def call(origin: str) -> None:
        post = OutboundRequest("POST", origin + "/rest/v1.1/me", {}, b"{}", False)
        try:
            send(post, time.monotonic() + 3.0, 10_000, RetryPolicy(max_attempts=3), clock)
        except UpstreamTimeout as exc:
            outcome.append(exc)

    with caplog.at_level(logging.INFO, logger="tether.upstream"), stalled_listener() as origin:
        # In a thread of its own: without a connect timeout the handshake would wait for the
        # kernel to give up (about two minutes), far past the deadline.
        caller = threading.Thread(target=call, args=(origin,), daemon=True)
        caller.start()
        caller.join(10.0)
        assert not caller.is_alive(), "the call outlived its 3 s deadline by 7 s"
    [raised] = outcome
    assert raised.message == "The provider did not answer in time."
    # Three attempts of 0.2 s each, not one that waits out the deadline.
    assert [m for m in caplog.messages if m.startswith("upstream ")] == ["upstream timed out: retrying in 0.00 s"] * 2


@pytest.mark.parametrize("left", [0.0, -0.5])
def test_no_time_left_before_an_attempt_is_a_504_and_nothing_is_sent(left: float) -> None:
    fake = FakeClock()
    with FaultServer(json_ok()) as server, pytest.raises(UpstreamTimeout) as raised:
        send(request(server), fake.at + left, 10_000, clock=fake.clock)
    assert raised.value.message == "The provider did not answer in time."
    assert server.connections == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_answered_as_it_is_never_followed(status: int) -> None:
    """The provider's redirect goes back to the caller: following it would send the request (and
    its Authorization) wherever the Location points."""
    fake = FakeClock()
    with FaultServer(json_ok()) as elsewhere:
        moved = respond(status, b"", [("Location", elsewhere.origin + "/rest/v1.1/me")])
        with FaultServer(moved) as server:
            response = send(request(server, Authorization="Bearer t"), fake.at + 20, 10_000, clock=fake.clock)
        assert elsewhere.connections == 0
    assert (response.status, response.attempts) == (status, 1)
    assert response.header("Location") == elsewhere.origin + "/rest/v1.1/me"


# --- after sending: only a request that is safe to repeat is retried ------------------------------


def test_read_timeout_is_retried_for_get(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(jitter=0.0)
    with caplog.at_level(logging.INFO, logger="tether.upstream"), FaultServer(hang(), json_ok()) as server:
        # 1.2 s left: the first attempt's read times out after 1.2 s (a socket timeout, not a
        # sleep), and a retry still fits because the fake clock has not moved.
        response = send(request(server), fake.at + 1.2, 10_000, clock=fake.clock)
    assert response.status == 200
    assert response.attempts == 2
    assert server.connections == 2
    assert "upstream timed out: retrying in 0.00 s" in caplog.messages


@pytest.mark.parametrize("where", ["headers", "body"])
def test_read_timeout_of_a_post_is_a_504_without_retry(where: str) -> None:
    from tests.fault_server import drip

    fake = FakeClock(jitter=0.0)
    # Stuck before the headers, or in the body (the headers came: the request certainly arrived).
    stuck = hang() if where == "headers" else drip(head(200, [("Content-Length", "10")]), b"x" * 10, 30.0)
    with FaultServer(stuck, json_ok()) as server, pytest.raises(UpstreamTimeout) as raised:
        send(request(server, "POST"), fake.at + 1.2, 10_000, clock=fake.clock)
    assert raised.value.message == "The provider did not answer in time."
    assert server.connections == 1
    assert fake.sleeps == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_dropped_after_sending(method: str) -> None:
    fake = FakeClock(jitter=0.0)
    with FaultServer(reset_after(b""), json_ok()) as server:
        if method == "GET":
            assert send(request(server, method), fake.at + 20, 10_000, clock=fake.clock).status == 200
            assert server.connections == 2
        else:
            with pytest.raises(UpstreamUnavailable):
                send(request(server, method), fake.at + 20, 10_000, clock=fake.clock)
            assert server.connections == 1


@pytest.mark.parametrize(("method", "retryable"), [("GET", True), ("PUT", True), ("POST", False), ("PATCH", False)])
def test_5xx_is_retried_only_when_repeating_is_safe(method: str, retryable: bool) -> None:
    fake = FakeClock(jitter=0.0)
    busy = respond(503, b'{"error": "busy"}', [("Content-Type", "application/json")])
    with FaultServer(busy, json_ok()) as server:
        response = send(request(server, method, retryable), fake.at + 20, 10_000, clock=fake.clock)
    assert (response.status, server.connections) == ((200, 2) if retryable else (503, 1))


def test_retries_stop_at_the_deadline() -> None:
    fake = FakeClock()
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=1.0)
    busy = respond(503, b"{}", [("Content-Type", "application/json")])
    with FaultServer(busy) as server:
        response = send(request(server), fake.at + 4.5, 10_000, policy, fake.clock)
    # Attempts at t=0, 1, 2, 3; a retry after the fourth would not end a second before the deadline.
    assert response.status == 503
    assert response.attempts == 4
    assert server.connections == 4
    assert fake.sleeps == [1.0, 1.0, 1.0]


def test_max_attempts_bounds_the_retries() -> None:
    fake = FakeClock(jitter=0.0)
    busy = respond(500, b"{}", [("Content-Type", "application/json")])
    with FaultServer(busy) as server:
        response = send(request(server), fake.at + 60, 10_000, RetryPolicy(max_attempts=3), fake.clock)
    assert (response.status, response.attempts, server.connections) == (500, 3, 3)


def test_backoff_doubles_from_the_base_up_to_the_max_times_the_jitter() -> None:
    fake = FakeClock(jitter=0.5)
    busy = respond(503, b"{}", [("Content-Type", "application/json")])
    policy = RetryPolicy(max_attempts=6, base_delay=0.2, max_delay=2.0)
    with FaultServer(busy) as server:
        response = send(request(server), fake.at + 60, 10_000, policy, fake.clock)
    assert (response.status, response.attempts) == (503, 6)
    # Full jitter: jitter() x min(max_delay, base x 2^(attempt-1)), here jitter() = 0.5.
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])


def test_a_retry_must_end_a_full_second_before_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(jitter=0.0)
    busy = respond(503, b"{}", [("Content-Type", "application/json")])
    # A retry now (no backoff) would start exactly one second before the deadline: too late.
    with caplog.at_level(logging.INFO, logger="tether.upstream"), FaultServer(busy, json_ok()) as server:
        response = send(request(server), fake.at + 1.0, 10_000, clock=fake.clock)
    assert (response.status, response.attempts, server.connections) == (503, 1, 1)
    assert fake.sleeps == []
    assert [m for m in caplog.messages if m.startswith("upstream ")] == ["upstream answered 503: no time left to retry"]


# --- Retry-After ------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["3600", "Fri, 31 Dec 2100 23:59:59 GMT"])
def test_a_huge_retry_after_is_capped(retry_after: str) -> None:
    fake = FakeClock()
    throttled = respond(429, b'{"error": "rate_limited"}', [("Retry-After", retry_after)])
    with FaultServer(throttled, json_ok()) as server:
        response = send(request(server), fake.at + 60, 10_000, RetryPolicy(max_retry_after=5.0), fake.clock)
    assert response.status == 200
    assert fake.sleeps == [5.0]


def test_retry_after_is_honoured_below_the_cap() -> None:
    fake = FakeClock()
    throttled = respond(429, b"{}", [("Retry-After", "2")])
    with FaultServer(throttled, json_ok()) as server:
        response = send(request(server), fake.at + 60, 10_000, clock=fake.clock)
    assert response.status == 200
    assert fake.sleeps == [2.0]


def test_retry_after_past_the_deadline_is_not_waited_for() -> None:
    fake = FakeClock()
    throttled = respond(429, b"{}", [("Retry-After", "3600")])
    with FaultServer(throttled, json_ok()) as server:
        response = send(request(server), fake.at + 5.5, 10_000, RetryPolicy(max_retry_after=5.0), fake.clock)
    assert response.status == 429
    assert response.throttled
    assert fake.sleeps == []
    assert server.connections == 1


# --- the response cap, however the body arrives ------------------------------------------------------

STREAMED_OVERSIZE = {
    "no-content-length": send_raw(head(200, [("Content-Type", "application/json")]) + b"x" * 5000),
    "chunked": send_raw(head(200, [("Transfer-Encoding", "chunked")]) + chunked(b"x" * 5000)),
    # Each piece is under the cap; together they are over it.
    "chunked, in small pieces": send_raw(
        head(200, [("Transfer-Encoding", "chunked")])
        + b"".join(f"{400:x}\r\n".encode() + b"x" * 400 + b"\r\n" for _ in range(5))
        + b"0\r\n\r\n"
    ),
    # The declared length is the compressed size: small, honest, and far from the decoded size.
    "gzip-small-content-length": respond(200, gzipped(b"x" * 50_000), [("Content-Encoding", "gzip")]),
    "declared-too-large": respond(200, b"x" * 5000),
    # Refused on the declared length alone, before reading: the short body never counts.
    "declared-too-large, then 10 bytes": send_raw(head(200, [("Content-Length", "5000")]) + b"x" * 10),
}


@pytest.mark.parametrize("case", STREAMED_OVERSIZE)
def test_response_over_the_cap_is_refused(case: str) -> None:
    fake = FakeClock()
    with FaultServer(STREAMED_OVERSIZE[case]) as server, pytest.raises(UpstreamTooLarge):
        send(request(server), fake.at + 20, 1000, clock=fake.clock)
    assert server.connections == 1  # the same answer would come again: no retry


def test_a_body_in_many_pieces_comes_back_whole() -> None:
    fake = FakeClock()
    pieces = [bytes([65 + n]) * 300 for n in range(20)]
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    with FaultServer(send_raw(head(200, [("Transfer-Encoding", "chunked")]) + body)) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert response.body == b"".join(pieces)


@pytest.mark.parametrize("declared", [False, True], ids=["no-content-length", "content-length"])
def test_response_at_the_cap_passes(declared: bool) -> None:
    fake = FakeClock()
    answer = respond(200, b"x" * 1000) if declared else send_raw(head(200) + b"x" * 1000)
    with FaultServer(answer) as server:
        response = send(request(server), fake.at + 20, 1000, clock=fake.clock)
    assert response.body == b"x" * 1000


# --- broken answers: a 502, retried only when repeating is safe ---------------------------------------


UNDECODABLE = "The provider's compressed response could not be decoded."
BROKE_OFF = "The provider's response broke off."
MALFORMED_HEADER = "The provider's response has a malformed header."
BROKEN_MESSAGES = {
    "crlf-folded-header": "The provider's response has a folded header.",
    "lf-folded-header": "The provider's response has a folded header.",
    "nul-in-header": MALFORMED_HEADER,
    "bad-gzip": UNDECODABLE,
    "truncated-gzip": UNDECODABLE,
    "bad-deflate": UNDECODABLE,
    "encoding-not-asked-for": "The provider answered with a content encoding that was not asked for.",
    "reset-mid-body": BROKE_OFF,
    "closed-mid-body": BROKE_OFF,
    "bad-chunk": BROKE_OFF,
    "status-999": "The provider answered with status 999.",
    "status-101": "The provider answered with status 101.",
}


@pytest.mark.parametrize("case", BROKEN_ANSWERS)
def test_broken_answer_to_a_post_is_a_bad_response_without_retry(case: str) -> None:
    fake = FakeClock(jitter=0.0)
    with FaultServer(BROKEN_ANSWERS[case], json_ok()) as server, pytest.raises(UpstreamBadResponse) as raised:
        send(request(server, "POST"), fake.at + 20, 10_000, clock=fake.clock)
    assert raised.value.status == 502
    assert raised.value.message == BROKEN_MESSAGES[case]
    assert server.connections == 1


@pytest.mark.parametrize(("status", "passed"), [(200, True), (599, True), (600, False), (199, False)])
def test_statuses_from_200_to_599_pass_through(status: int, passed: bool) -> None:
    fake = FakeClock(jitter=0.0)
    with FaultServer(respond(status, b"{}")) as server:
        if passed:
            assert send(request(server, "POST"), fake.at + 20, 10_000, clock=fake.clock).status == status
        else:
            with pytest.raises(UpstreamBadResponse) as raised:
                send(request(server, "POST"), fake.at + 20, 10_000, clock=fake.clock)
            assert raised.value.message == f"The provider answered with status {status}."


@pytest.mark.parametrize("case", BROKEN_ANSWERS)
def test_broken_answer_to_a_get_is_retried(case: str) -> None:
    fake = FakeClock(jitter=0.0)
    with FaultServer(BROKEN_ANSWERS[case], json_ok()) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert server.connections == 2


def test_good_gzip_is_decoded() -> None:
    fake = FakeClock()
    with FaultServer(respond(200, gzipped(b'{"ok": true}'), [("Content-Encoding", "gzip")])) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert response.body == b'{"ok": true}'


# --- what goes out ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Accept-Encoding", "accept-encoding", "ACCEPT-ENCODING"])
def test_accept_encoding_is_what_the_client_decodes_whatever_the_request_says(name: str) -> None:
    fake = FakeClock()
    # The headers after it go out too.
    asked = {name: "br, zstd", "X-After": "kept"}
    with FaultServer(json_ok()) as server:
        send(request(server, **asked), fake.at + 20, 10_000, clock=fake.clock)
    [received] = server.received
    assert received.headers["accept-encoding"] == "gzip, deflate"
    assert received.headers["x-after"] == "kept"
    # Nothing else: requests' own defaults, the host and the caller's other header.
    assert set(received.headers) == {"host", "user-agent", "accept-encoding", "accept", "connection", "x-after"}


def test_header_values_beyond_latin1_are_sent_as_utf8() -> None:
    fake = FakeClock()
    with FaultServer(json_ok()) as server:
        send(request(server, **{"User-Agent": "caf\u00e9 \u2603"}), fake.at + 20, 10_000, clock=fake.clock)
    [received] = server.received
    assert received.headers["user-agent"].encode("latin-1").decode("utf-8") == "caf\u00e9 \u2603"


# --- the deadline holds wherever the exchange is stuck ------------------------------------------------


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_drip_is_cut_at_the_deadline(where: str) -> None:
    """Each read gets a byte in time, so only the overall deadline can end it (real clock: the
    drip would take 20 s; the bound below is generous and only says "not at the drip's end")."""
    from tests.fault_server import drip

    if where == "headers":
        answer = drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 200, 0.1)
    else:
        answer = drip(head(200, [("Content-Length", "200")]), b"x" * 200, 0.1)
    with FaultServer(answer) as server:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            send(request(server), time.monotonic() + 1.0, 10_000)
        elapsed = time.monotonic() - started
    assert elapsed < 10
    assert server.connections == 1


@pytest.mark.parametrize("late", [0.0, 0.001], ids=["at-the-deadline", "just-after"])
def test_the_body_is_checked_against_the_deadline_as_it_arrives(late: float) -> None:
    start, deadline = 1000.0, 1005.0
    readings = iter([start])  # the attempt starts in time; the body arrives `late` after the deadline
    clock = Clock(now=lambda: next(readings, deadline + late), sleep=lambda _: None, jitter=lambda: 0.0)
    with FaultServer(json_ok()) as server:
        if not late:
            assert send(request(server), deadline, 10_000, clock=clock).body == b'{"ok": true}'
        else:
            with pytest.raises(UpstreamTimeout) as raised:
                send(request(server), deadline, 10_000, clock=clock)
            assert raised.value.message == "The provider did not finish answering in time."
    assert server.connections == 1


# --- content codings: each one the client asks for is decoded, within the cap in memory too ---------

PAYLOAD = b'{"ok": true, "items": [' + b'"abc", ' * 40 + b'"end"]}'


def _deflated(payload: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    return compressor.compress(payload) + compressor.flush()


ENCODED = {
    "gzip": ("gzip", gzipped(PAYLOAD)),
    "x-gzip": ("x-gzip", gzipped(PAYLOAD)),
    "gzip upper case": ("GZIP", gzipped(PAYLOAD)),
    "identity and gzip": ("identity, gzip", gzipped(PAYLOAD)),
    "deflate (zlib)": ("deflate", _deflated(PAYLOAD, zlib.MAX_WBITS)),
    # Some servers send raw deflate, without the zlib wrapper HTTP asks for.
    "deflate (raw)": ("deflate", _deflated(PAYLOAD, -zlib.MAX_WBITS)),
    "gzip, two members": ("gzip", gzipped(PAYLOAD[:50]) + gzipped(PAYLOAD[50:])),
}


@pytest.mark.parametrize("case", ENCODED)
def test_each_content_coding_asked_for_is_decoded(case: str) -> None:
    coding, body = ENCODED[case]
    fake = FakeClock()
    with FaultServer(respond(200, body, [("Content-Encoding", coding)])) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert response.body == PAYLOAD


MISLABELLED = {
    # A zlib stream is not gzip, even if zlib could be told to guess the wrapper.
    "zlib labelled gzip": _deflated(PAYLOAD, zlib.MAX_WBITS),
    "gzip member, then a zlib stream": gzipped(PAYLOAD[:50]) + _deflated(PAYLOAD[50:], zlib.MAX_WBITS),
}


@pytest.mark.parametrize("case", MISLABELLED)
def test_a_body_that_is_not_the_coding_it_names_is_a_bad_response(case: str) -> None:
    fake = FakeClock()
    answer = respond(200, MISLABELLED[case], [("Content-Encoding", "gzip")])
    with FaultServer(answer) as server, pytest.raises(UpstreamBadResponse) as raised:
        send(request(server, "POST"), fake.at + 20, 10_000, clock=fake.clock)
    assert raised.value.message == "The provider's compressed response could not be decoded."


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip, gzip", gzipped(gzipped(PAYLOAD))),
        ("deflate, gzip", gzipped(_deflated(PAYLOAD, zlib.MAX_WBITS))),
        ("gzip, identity, gzip", gzipped(gzipped(PAYLOAD))),
    ],
)
def test_more_than_one_content_coding_is_refused(coding: str, body: bytes) -> None:
    fake = FakeClock()
    answer = respond(200, body, [("Content-Encoding", coding)])
    with FaultServer(answer) as server, pytest.raises(UpstreamBadResponse) as raised:
        send(request(server, "POST"), fake.at + 20, 10_000, clock=fake.clock)
    assert raised.value.message == "The provider answered with a content encoding that was not asked for."


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_an_empty_body_labelled_compressed_is_empty(coding: str) -> None:
    fake = FakeClock()
    with FaultServer(respond(200, b"", [("Content-Encoding", coding)])) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert (response.status, response.body) == (200, b"")


BOMB = bytes(20_000_000)  # about 20 KB compressed
BOMBS: dict[str, tuple[str, Callable[[int], bytes]]] = {
    # Not compressed at all: read a chunk at a time, never the whole body before the check.
    "identity": ("identity", lambda limit: BOMB),
    "gzip": ("gzip", lambda limit: gzipped(BOMB)),
    "deflate": ("deflate", lambda limit: _deflated(BOMB, zlib.MAX_WBITS)),
    "gzip, after a member that fills the cap": ("gzip", lambda limit: gzipped(b"x" * (limit + 1)) + gzipped(BOMB)),
    # Members each just under what is left, then doubling: all of them fit in one read chunk,
    # so only the bound passed from member to member keeps them from being inflated.
    "gzip, many members": (
        "gzip",
        lambda limit: gzipped(bytes(limit)) + b"".join(gzipped(bytes(limit << n)) for n in range(1, 13)),
    ),
}


@pytest.mark.parametrize("case", BOMBS)
def test_a_compression_bomb_is_refused_without_inflating_it(case: str) -> None:
    limit = 1000
    coding, make_body = BOMBS[case]
    body = make_body(limit)
    fake = FakeClock()
    # No Content-Length (its compressed size is over the cap too): the body has to be read.
    with FaultServer(send_raw(head(200, [("Content-Encoding", coding)]) + body)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(UpstreamTooLarge):
                send(request(server), fake.at + 20, limit, clock=fake.clock)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Decoded output is bounded by the cap (plus a read chunk), never the 20 MB the body holds.
    assert peak < 4_000_000


# --- Retry-After as a date, and zero -------------------------------------------------------------------


def test_a_retry_after_date_is_waited_for_until_then() -> None:
    fake = FakeClock()
    # Twenty seconds ahead of the wall clock: what is left of them when it is read, not the cap.
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    throttled = respond(429, b"{}", [("Retry-After", when)])
    with FaultServer(throttled, json_ok()) as server:
        response = send(request(server), fake.at + 60, 10_000, RetryPolicy(max_retry_after=50.0), fake.clock)
    assert response.status == 200
    [slept] = fake.sleeps
    assert 10.0 < slept <= 20.0


@pytest.mark.parametrize("retry_after", ["0", "Thu, 01 Jan 2015 00:00:00 GMT"])
def test_a_retry_after_now_or_past_retries_at_once(retry_after: str) -> None:
    fake = FakeClock(jitter=0.5)
    throttled = respond(429, b"{}", [("Retry-After", retry_after)])
    with FaultServer(throttled, json_ok()) as server:
        response = send(request(server), fake.at + 60, 10_000, clock=fake.clock)
    assert response.status == 200
    assert fake.sleeps == [0.0]


def test_each_retry_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(jitter=0.0)
    answers = [BROKEN_ANSWERS["bad-gzip"], respond(503, b"{}"), respond(429, b"{}"), json_ok()]
    with caplog.at_level(logging.INFO, logger="tether.upstream"), FaultServer(*answers) as server:
        response = send(request(server), fake.at + 60, 10_000, RetryPolicy(max_attempts=4), fake.clock)
    assert response.status == 200
    assert [m for m in caplog.messages if m.startswith("upstream ")] == [
        "upstream answer broken: retrying in 0.00 s",
        "upstream answered 503: retrying in 0.00 s",
        "upstream throttled: retrying in 0.00 s",
    ]


LIMIT_PAGES = {
    "an html limit page": (b"<html><body>Limit reached</body></html>", "text/html; charset=UTF-8", 2),
    "json that quotes the words": (b'{"content": "Limit reached"}', "application/json", 1),
    # Only the first 4 KB are searched: the words ending on byte 4096 count, on byte 4097 not.
    "html with the words ending on byte 4096": (b"<html>" + b" " * 4077 + b"Limit reached</html>", "text/html", 2),
    "html with the words ending on byte 4097": (b"<html>" + b" " * 4078 + b"Limit reached</html>", "text/html", 1),
}


@pytest.mark.parametrize("case", LIMIT_PAGES)
def test_only_an_html_limit_page_counts_as_throttled(case: str) -> None:
    body, content_type, attempts = LIMIT_PAGES[case]
    fake = FakeClock(jitter=0.0)
    with FaultServer(respond(200, body, [("Content-Type", content_type)]), json_ok()) as server:
        response = send(request(server), fake.at + 20, 10_000, clock=fake.clock)
    assert (response.attempts, server.connections) == (attempts, attempts)
    assert response.body == (b'{"ok": true}' if attempts == 2 else body)
