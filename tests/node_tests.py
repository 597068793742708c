"""Runs a directory of node:test files once and reports each inner test to pytest as its own result.

The inner tests are found statically (every `test("...")` / `it("...")` call in the directory's
`*.test.mjs` files), so pytest can parametrize over them at collection time; node runs them all in
one go (a module-scoped fixture), writing one JSON line per finished test through
tests/node-results-reporter.mjs, and each parametrized pytest test looks up its own line.

A test node reports that was not found statically (a computed name, say), a file that fails to
load, or a failed hook is not lost: `NodeRun.unaccounted()` lists them for a catch-all check.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORTER = REPO_ROOT / "tests" / "node-results-reporter.mjs"
STOP_GRACE_S = 5
_TEST_CALL = re.compile(r"""^\s*(?:test|it)\(\s*(["'])(?P<name>.+?)\1""", re.MULTILINE)


@dataclass(frozen=True)
class InnerTest:
    """One node:test test: its file (name only) and its name."""

    file: str
    name: str

    @property
    def id(self) -> str:
        """A readable pytest id: `<file stem>: <test name>`."""
        return f"{self.file.removesuffix('.test.mjs')}: {self.name}"


def inner_tests(directory: Path) -> list[InnerTest]:
    """Every test declared with a literal name in `directory`'s *.test.mjs files, in file order."""
    return [
        InnerTest(path.name, match["name"])
        for path in sorted(directory.glob("*.test.mjs"))
        for match in _TEST_CALL.finditer(path.read_text())
    ]


def parametrize(directory: Path) -> Any:
    """`pytest.mark.parametrize("inner", ...)` over the directory's inner tests."""
    found = inner_tests(directory)
    return pytest.mark.parametrize("inner", found, ids=[inner.id for inner in found])


@dataclass
class NodeRun:
    """What one `node --test` run reported."""

    command: str
    returncode: int
    results: list[dict[str, Any]] = field(repr=False)
    output: str = field(repr=False)

    def _in_file(self, result: dict[str, Any], file: str) -> bool:
        return Path(str(result.get("file") or "")).name == file

    def _is_test(self, result: dict[str, Any]) -> bool:
        return result.get("kind") != "suite" and not str(result.get("name", "")).startswith("/")

    def check(self, inner: InnerTest) -> None:
        """Pass, skip or fail as node's result for `inner` did."""
        mine = [
            result
            for result in self.results
            if self._in_file(result, inner.file) and result.get("name") == inner.name and self._is_test(result)
        ]
        context = self._file_failures(inner.file)
        if not mine:
            pytest.fail(f"`{self.command}` reported no result for {inner.id!r}.\n{context}\n{self.output}")
        if all(result["skip"] or result["todo"] for result in mine):
            pytest.skip(f"node skipped {inner.id!r}")
        failed = [result for result in mine if result["outcome"] == "failed"]
        if failed:
            errors = "\n".join(str(result["error"]) for result in failed)
            failure_types = ", ".join(sorted({str(result["failureType"]) for result in failed}))
            pytest.fail(f"{inner.id} failed under node ({failure_types}):\n{errors}\n{context}", pytrace=False)

    def _file_failures(self, file: str) -> str:
        """Failures in `file` that are not a test's own (a failed hook, a file that did not load)."""
        failures = [
            f"{result['name']}: [{result['failureType']}] {result['error']}"
            for result in self.results
            if self._in_file(result, file) and result["outcome"] == "failed" and not self._is_test(result)
        ]
        return "\n".join(failures)

    def unaccounted(self, known: list[InnerTest]) -> list[str]:
        """Failures no parametrized test reports, and tests node ran that are not in `known`."""
        names = {(inner.file, inner.name) for inner in known}
        problems = []
        for result in self.results:
            key = (Path(str(result.get("file") or "")).name, result.get("name"))
            if self._is_test(result) and key not in names:
                problems.append(f"not collected by pytest (give the test a literal name): {key}")
            # A suite whose only fault is a failed test inside it is that test's to report.
            elif (
                not self._is_test(result)
                and result["outcome"] == "failed"
                and result.get("failureType") != "subtestsFailed"
            ):
                problems.append(f"{result['name']}: [{result['failureType']}] {result['error']}")
        if self.returncode != 0 and not any(result["outcome"] == "failed" for result in self.results):
            problems.append(f"node exited with status {self.returncode} without a failed test:\n{self.output}")
        return problems


def run_node_tests(
    directory: Path, env: dict[str, str], results_file: Path, timeout: float, files: tuple[str, ...] = ()
) -> NodeRun:
    """`node --test <directory>` (only `files` of it, when given) in its own process group (a
    timeout ends every process it started)."""
    node = _node()
    relative = directory.relative_to(REPO_ROOT)
    targets = [f"{relative}/{name}" for name in files] or [f"{relative}/"]
    command = [
        node,
        "--test",
        f"--test-reporter={REPORTER}",
        f"--test-reporter-destination={results_file}",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        *targets,
    ]
    shown = f"node --test {' '.join(targets)}"
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        output = _stop_group(process)
        pytest.fail(f"`{shown}` ran longer than {timeout:.0f} s:\n{output}")
    finally:
        if process.poll() is None:
            _stop_group(process)
    lines = results_file.read_text().splitlines() if results_file.exists() else []
    results = [json.loads(line) for line in lines if line.strip()]
    return NodeRun(shown, process.returncode, results, output)


def _node() -> str:
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed")
    return node


def _stop_group(process: subprocess.Popen[str]) -> str:
    """SIGTERM the process group, SIGKILL it after a grace period; return what it printed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.communicate(timeout=STOP_GRACE_S)[0]
        except subprocess.TimeoutExpired:
            continue
    return ""
