"""Headless Chromium against `tether dev`, driven by playwright-core with Debian's Chromium:

- tests/browser/connect.test.mjs: the connect popup: the oauth-nonce page's message to its opener,
  and the sandbox consent page's Approve and Deny ending on the OAuth callback's result page;
- tests/browser/demo.test.mjs: the demo page (`/demo/`, the real Paragon SDK as the dev project's
  demo user): connecting through the SDK's popup, listing sites, creating a post, disconnecting.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devstack import RunningDevStack

REPO_ROOT = Path(__file__).resolve().parent.parent
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
PARAGON_SDK = REPO_ROOT / "demo" / "node_modules" / "@useparagon" / "connect"
CHROMIUM = Path("/usr/bin/chromium")
NODE_TIMEOUT_S = 90
STOP_GRACE_S = 5


def _missing_prerequisites() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if shutil.which("node") is None:
        missing.append("Node.js")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("tests/browser/node_modules (make setup, or npm ci in tests/browser)")
    if not PARAGON_SDK.is_dir():
        missing.append("demo/node_modules, the Paragon SDK the demo page loads (make setup, or npm ci in demo)")
    return missing


_MISSING = _missing_prerequisites()
if _MISSING:
    _REASON = "browser tests need " + ", ".join(_MISSING)
    if os.environ.get("CI"):
        pytest.fail(_REASON + " (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    with RunningDevStack(tmp_path_factory.mktemp("devstack-browser")) as running:
        yield running


def test_connect_popup_in_headless_chromium(stack: RunningDevStack) -> None:
    # Both files need TETHER_API_URL (the demo page needs no more: it signs its own user's token);
    # the rest is connect.test.mjs's. The stack is fresh, so the demo user starts unconnected.
    env = {
        **os.environ,
        "TETHER_API_URL": stack.api_url,
        "TETHER_PROJECT_ID": stack.project_id,
        "TETHER_USER_TOKEN": stack.token("browser-user-1"),
        "TETHER_USER_TOKEN_2": stack.token("browser-user-2"),
        "TETHER_CHROMIUM": str(CHROMIUM),
    }
    env.pop("TETHER_SCREENSHOT_DIR", None)
    node = shutil.which("node")
    assert node is not None
    # Its own process group, so a timeout ends the runner, the per-file node processes and (through
    # Playwright's SIGTERM handler, or its closed pipe) Chromium too.
    process = subprocess.Popen(
        [node, "--test", "tests/browser/"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop_group(process)
        pytest.fail(f"node --test tests/browser/ ran longer than {NODE_TIMEOUT_S} s:\n{stdout}\n{stderr}")
    finally:
        if process.poll() is None:
            _stop_group(process)
    assert process.returncode == 0, (
        f"node --test tests/browser/ failed ({process.returncode}):\n{stdout}\n{stderr}\n"
        f"--- tether dev logs ---\n{stack.logs()}"
    )


def _stop_group(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM the process group, SIGKILL it after a grace period; return what it printed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            continue
    return "", ""
