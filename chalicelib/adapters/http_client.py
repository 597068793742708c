"""One pooled outbound HTTP session per container, created on first use.

Its connections refuse responses with obsolete line folding (a header line continued on the next
line): urllib3 would quietly join the lines, and Tether answers such a response with a 502
instead (RFC 9112 lets a gateway do either; a refusal is the same on every urllib3 version)."""

from __future__ import annotations

import http.client
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

_lock = threading.Lock()
_session: requests.Session | None = None


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

    class StrictHTTPSConnection(HTTPSConnection):
        response_class = _StrictHeadersResponse

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
