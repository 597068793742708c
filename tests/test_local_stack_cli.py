"""The local stack's rough edges, black-box: `make run PORT=`, a busy port, a second `tether dev` on
a live state file, `tether connect` without a browser, and quiet third-party logs."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.devstack import TETHER, RunningDevStack

REPO_ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 10
EXIT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    with RunningDevStack(tmp_path_factory.mktemp("devstack-cli")) as running:
        yield running


def run_tether(*args: str) -> subprocess.CompletedProcess[str]:
    env = RunningDevStack._environment()
    return subprocess.run(
        [str(TETHER), *args], capture_output=True, text=True, timeout=EXIT_TIMEOUT_S, check=False, env=env
    )


def test_make_run_takes_the_port() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert any(line.endswith("tether dev --port 8123") for line in dry.stdout.splitlines()), dry.stdout


@pytest.mark.parametrize("flag", ["--port", "--wpcom-port"])
def test_a_busy_port_is_named_with_the_flag_that_changes_it(tmp_path: Path, flag: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = ["--port", str(port)] if flag == "--port" else ["--port", "0", "--wpcom-port", str(port)]
        result = run_tether("dev", *ports, "--state-file", str(tmp_path / "state.json"))
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"{flag} N" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state.json").exists()


def test_a_second_stack_does_not_overwrite_a_live_state_file(stack: RunningDevStack) -> None:
    before = stack.state_file.read_text()
    result = run_tether("dev", "--port", "0", "--state-file", str(stack.state_file))
    assert result.returncode != 0
    assert f"Another `tether dev` is running with the state file {stack.state_file}" in result.stderr
    assert stack.api_url in result.stderr
    assert "--state-file PATH" in result.stderr
    assert stack.state_file.read_text() == before
    # The first stack still serves what its state file says.
    assert requests.get(f"{stack.api_url}/", timeout=HTTP_TIMEOUT).status_code == 200


def test_a_state_file_is_free_again_once_its_stack_stopped(tmp_path: Path) -> None:
    with RunningDevStack(tmp_path / "first") as first:
        state_file = first.state_file
    state_file.unlink()  # so the second start is seen by the file it writes, not the old one
    with RunningDevStack(tmp_path / "first") as second:
        assert second.state_file == state_file
        assert second.project_id != first.project_id


def test_tether_connect_connects_a_sandbox_account_without_a_browser(stack: RunningDevStack) -> None:
    result = run_tether(
        "connect", "--state-file", str(stack.state_file), "--user", "cli-bob", "--wpcom-user", "carolnguyen"
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["userId"] == "cli-bob"
    me = requests.get(
        f"{stack.api_url}/projects/{stack.project_id}/sdk/me",
        headers={"Authorization": f"Bearer {stack.token('cli-bob')}"},
        timeout=HTTP_TIMEOUT,
    ).json()
    wordpress = me["integrations"]["wordpress"]
    assert wordpress["enabled"] is True
    assert wordpress["credentialId"] == printed["credentialId"]
    assert wordpress["providerData"]["username"] == "carolnguyen"


def test_tether_connect_says_why_it_failed(stack: RunningDevStack) -> None:
    result = run_tether("connect", "--state-file", str(stack.state_file), "--user", "cli-eve", "--wpcom-user", "nobody")
    assert result.returncode != 0
    assert "Could not connect cli-eve" in result.stderr
    assert "'nobody'" in result.stderr
    missing = run_tether("connect", "--state-file", str(stack.tmp_dir / "none.json"), "--user", "cli-eve")
    assert missing.returncode != 0
    assert "is `tether dev` running?" in missing.stderr


def test_third_party_request_lines_are_off(stack: RunningDevStack) -> None:
    # A connect makes Tether call the sandbox (code exchange, /me) through moto's HTTP mock.
    assert run_tether("connect", "--state-file", str(stack.state_file), "--user", "cli-quiet").returncode == 0
    logs = stack.logs()
    assert "POST /oauth/callback" in logs or "GET /oauth/callback" in logs  # the access log is there
    assert "passthru" not in logs
