"""Runs `tether dev` as a subprocess for black-box tests of the local stack.

Usage::

    with RunningDevStack(tmp_dir) as stack:
        token = stack.token("alice")
        requests.get(f"{stack.api_url}/projects/{stack.project_id}/sdk/me", ...)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

TETHER = Path(sys.executable).with_name("tether")
START_TIMEOUT_S = 90.0  # a limit, not a measure: imports alone take 30 s on a saturated 2-core machine
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1


class DevStackError(RuntimeError):
    """The stack did not start (its output is in the message)."""


class RunningDevStack:
    """`tether dev --port 0` in a subprocess, with its state file and logs in `tmp_dir`."""

    def __init__(self, tmp_dir: Path, *, extra_args: tuple[str, ...] = (), start_timeout: float = START_TIMEOUT_S):
        self.tmp_dir = Path(tmp_dir)
        self.state_file = self.tmp_dir / "state.json"
        self.stdout_file = self.tmp_dir / "stdout.log"
        self.stderr_file = self.tmp_dir / "stderr.log"
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.state: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the stack and wait until its state file is written."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        command = [str(TETHER), "dev", "--port", "0", "--state-file", str(self.state_file), *self.extra_args]
        with self.stdout_file.open("wb") as out, self.stderr_file.open("wb") as err:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self._environment()
            )
        try:
            self.state = self._wait_for_state()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _environment() -> dict[str, str]:
        # The stack configures itself; settings a test process may hold (TETHER_*) must not leak in.
        return {name: value for name, value in os.environ.items() if not name.startswith("TETHER_")}

    def _wait_for_state(self) -> dict[str, Any]:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.state_file.exists():
                try:
                    state = json.loads(self.state_file.read_text())
                except (OSError, ValueError):
                    state = None  # Not complete yet: keep polling.
                if isinstance(state, dict):
                    return state
            code = self._process.poll()
            if code is not None:
                raise DevStackError(f"`tether dev` exited with status {code} before it was ready:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise DevStackError(f"`tether dev` was not ready after {self.start_timeout:.0f} s:\n{self.logs()}")
            time.sleep(POLL_INTERVAL_S)

    def stop(self) -> int | None:
        """SIGTERM the stack, wait for it (SIGKILL after a grace period); return its exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        return process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- accessors ------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    @property
    def api_url(self) -> str:
        return str(self.state["apiUrl"])

    @property
    def project_id(self) -> str:
        return str(self.state["projectId"])

    def token(self, user: str, ttl: int = 3600) -> str:
        """A user token signed with the stack's dev signing key (via `tether token`)."""
        result = subprocess.run(
            [str(TETHER), "token", "--state-file", str(self.state_file), "--user", user, "--ttl", str(ttl)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise DevStackError(f"`tether token` failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result.stdout.strip()

    def logs(self) -> str:
        """Everything the stack wrote so far: stdout, then stderr."""
        parts = []
        for path in (self.stdout_file, self.stderr_file):
            try:
                parts.append(path.read_text(errors="replace"))
            except FileNotFoundError:
                parts.append("")
        return "\n".join(parts)
