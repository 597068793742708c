"""One pooled outbound HTTP session per container, created on first use.

Its connections do two things a plain session does not:
- they refuse responses with obsolete line folding (a header line continued on the next line):
  urllib3 would quietly join the lines, and Tether answers such a response with a 502 instead
  (RFC 9112 lets a gateway do either; a refusal is the same on every urllib3 version);
- they report the socket they use to the calling thread's `deadline_watch`, so one deadline can
  cut a request wherever it is stuck (socket timeouts bound each read, not the whole exchange:
  a server dripping a byte at a time would otherwise hold the call as long as it likes).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

_lock = threading.Lock()
_session: requests.Session | None = None
_local = threading.local()


class SocketWatch:
    """The socket one request is using, and whether its time ran out (the timer thread cut it)."""

    def __init__(self) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Remember the request's socket (cut at once if the time is already up)."""
        with self._lock:
            if self._done or sock is None:
                return
            self._sock = sock
            if self.fired:
                self._cut()

    def fire(self) -> None:
        """Time is up: shut the socket down, which wakes a blocked read or write."""
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._cut()

    def finish(self) -> None:
        """The request is over; from now on the socket is never touched."""
        with self._lock:
            self._done = True
            self._sock = None

    @property
    def done(self) -> bool:
        """True once the request is over."""
        return self._done

    def _cut(self) -> None:
        if self._sock is None:
            return
        try:
            # Through a duplicate descriptor: the kernel-level shutdown reaches the connection
            # without touching Python's (or TLS's) state of the socket another thread is using.
            with socket.socket(fileno=os.dup(self._sock.fileno())) as duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass  # already closed


class _Deadlines:
    """One daemon thread per container fires each watch when its time is up (a thread per
    request would cost more than the rest of the proxy's bookkeeping)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, SocketWatch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, watch: SocketWatch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(seconds, 0.0), next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tether-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, watch = heapq.heappop(self._heap)
                    watch.fire()  # a no-op for a finished request
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


_deadlines = _Deadlines()


@contextmanager
def deadline_watch(seconds: float) -> Iterator[SocketWatch]:
    """Within the block, the connection the calling thread uses is shut down after `seconds`;
    `watch.fired` tells the caller the failure it then sees was the deadline."""
    watch = SocketWatch()
    _local.watch = watch
    _deadlines.add(seconds, watch)
    try:
        yield watch
    finally:
        watch.finish()
        _local.watch = None


def _report_socket(sock: socket.socket | None) -> None:
    watch: SocketWatch | None = getattr(_local, "watch", None)
    if watch is not None:
        watch.attach(sock)


class FoldedHeaderError(http.client.HTTPException):
    """The response's header block uses obsolete line folding."""


class _StrictHeadersResponse(http.client.HTTPResponse):
    def begin(self) -> None:
        super().begin()
        if any("\n" in value for value in self.msg.values()):
            raise FoldedHeaderError("obsolete line folding in a response header")


def _build_session() -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class StrictHTTPConnection(HTTPConnection):
        response_class = _StrictHeadersResponse

        def connect(self) -> None:
            super().connect()
            _report_socket(self.sock)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _report_socket(self.sock)  # a pooled connection: no connect() this time
            super().request(*args, **kwargs)

    class StrictHTTPSConnection(HTTPSConnection):
        response_class = _StrictHeadersResponse

        def connect(self) -> None:
            super().connect()
            _report_socket(self.sock)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _report_socket(self.sock)
            super().request(*args, **kwargs)

    class StrictHTTPPool(HTTPConnectionPool):
        ConnectionCls = StrictHTTPConnection

    class StrictHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = StrictHTTPSConnection

    class StrictAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": StrictHTTPPool, "https": StrictHTTPSPool}

    session = requests.Session()
    # Never pick up proxy settings or .netrc credentials from the environment.
    session.trust_env = False
    adapter = StrictAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def http_session() -> requests.Session:
    """The container's shared `requests.Session` (connection pooling, no env proxies)."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                _session = _build_session()
    return _session


def reset_http_session() -> None:
    """Drop the shared session (tests)."""
    global _session
    with _lock:
        if _session is not None:
            _session.close()
        _session = None
