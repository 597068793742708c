"""A per-container, time-limited cache of project configurations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chalicelib.domain.models import ProjectConfig


class ProjectConfigCache:
    """Caches `load(project_id)` results for `ttl_seconds`; writes in this container invalidate."""

    def __init__(
        self,
        load: Callable[[str], ProjectConfig | None],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, ProjectConfig | None]] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str, *, fresh: bool = False) -> ProjectConfig | None:
        """The project's configuration, or None when no such project exists.

        `fresh` reads it from the store whatever the cache holds (for rare calls that must see
        a change made in another container at once)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(project_id)
        if not fresh and entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        config = self._load(project_id)
        with self._lock:
            self._entries[project_id] = (now, config)
        return config

    def invalidate(self, project_id: str) -> None:
        """Forget one project's cached configuration."""
        with self._lock:
            self._entries.pop(project_id, None)
