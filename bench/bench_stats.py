"""Statistics shared by the benchmark scripts (imported from the script's own folder)."""

from __future__ import annotations


def percentile(values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile (same as numpy's default) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
