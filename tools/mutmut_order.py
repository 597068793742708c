"""pytest plugin for mutation runs (tools/mutate.py loads it with `-p tools.mutmut_order`): run
each mutant's tests cheapest first, counting their fixtures' setup.

mutmut orders a mutant's tests by the time of their test body alone and stops at the first
failure (`-x`). A proxy test's body takes milliseconds but its fixtures (moto, the WordPress.com
sandbox, a project, a connection) close to a second, so those tests went first and a mutant the
fast unit tests kill waited for them. This plugin records each test's whole time (setup, call,
teardown) while mutmut runs the unmutated tests, and later sorts each run's tests by it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

# In mutmut's `mutants/` directory, where its runs happen.
DURATIONS = Path(".mutmut-test-durations.json")
_measured: dict[str, float] = {}


def _recording() -> bool:
    # mutmut's stats run and its clean run execute the tests without a mutant.
    return os.environ.get("MUTANT_UNDER_TEST") in ("stats", "")


def _known() -> dict[str, float]:
    try:
        durations: dict[str, float] = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return durations


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[Any]) -> None:
    known = _known()
    if known:
        # sorted() is stable: tests never measured keep mutmut's order, after the measured ones.
        items[:] = sorted(items, key=lambda item: known.get(item.nodeid, float("inf")))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _recording():
        _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish() -> None:
    if _recording() and _measured:
        merged = {**_known(), **_measured}
        temporary = DURATIONS.with_suffix(".tmp")
        temporary.write_text(json.dumps(merged, sort_keys=True))
        temporary.replace(DURATIONS)
        _measured.clear()
