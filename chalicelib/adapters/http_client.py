"""One pooled outbound HTTP session per container, created on first use."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

_lock = threading.Lock()
_session: requests.Session | None = None


def http_session() -> requests.Session:
    """The container's shared `requests.Session` (connection pooling, no env proxies)."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                import requests

                session = requests.Session()
                # Never pick up proxy settings or .netrc credentials from the environment.
                session.trust_env = False
                _session = session
    return _session


def reset_http_session() -> None:
    """Drop the shared session (tests)."""
    global _session
    with _lock:
        if _session is not None:
            _session.close()
        _session = None
