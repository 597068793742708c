"""Time helpers: one format for every stored timestamp."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and a `Z` suffix (sorts lexically)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_at(seconds: float) -> str:
    """A Unix time in the stored format (see `utc_now_iso`)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
