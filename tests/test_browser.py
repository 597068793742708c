"""Headless Chromium against `tether dev`, driven by playwright-core with Debian's Chromium:

- tests/browser/connect.test.mjs: the connect popup: the oauth-nonce page's message to its opener,
  and the sandbox consent page's Approve and Deny ending on the OAuth callback's result page;
- tests/browser/connect-errors.test.mjs: a connect that cannot start (no OAuth client, on a second
  stack started with `--wpcom-origin` and so without development keys) rejects `installIntegration`
  with Tether's message and the popup shows it;
- tests/browser/demo.test.mjs: the demo page (`/demo/`, the real Paragon SDK as the dev project's
  demo user): connecting through the SDK's popup, listing sites, creating a post, disconnecting;
- tests/browser/portal.test.mjs: the Connect Portal (`paragon.connect()`) on a customer page of
  another loopback origin, which the stack is started to allow: connect, workflow switch,
  settings, disconnect, the callbacks, and its security points.

Screenshots of each step are kept in tests/browser/artifacts/ (gitignored; `.ci/run` lists them).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import node_tests
from tests.devstack import RunningDevStack
from tests.node_tests import NodeRun, run_node_tests

REPO_ROOT = Path(__file__).resolve().parent.parent
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
PARAGON_SDK = REPO_ROOT / "demo" / "node_modules" / "@useparagon" / "connect"
ARTIFACTS_DIR = BROWSER_DIR / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
NODE_TIMEOUT_S = 150


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def portal_app_port() -> int:
    """The port of portal.test.mjs's customer page: its origin is one the stack allows."""
    return _free_port()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, portal_app_port: int) -> Iterator[RunningDevStack]:
    extra = ("--allow-origin", f"http://127.0.0.1:{portal_app_port}")
    with RunningDevStack(tmp_path_factory.mktemp("devstack-browser"), extra_args=extra) as running:
        yield running


@pytest.fixture(scope="module")
def no_client_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    """A stack with no OAuth client at all: no sandbox, hence no development keys (the origin is a
    closed loopback port; nothing reaches it because no connect can start)."""
    extra = ("--wpcom-origin", "http://127.0.0.1:9")
    with RunningDevStack(tmp_path_factory.mktemp("devstack-no-client"), extra_args=extra) as running:
        yield running


@pytest.fixture(scope="module")
def browser_run(
    stack: RunningDevStack,
    no_client_stack: RunningDevStack,
    portal_app_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> NodeRun:
    """tests/browser/ run once against the stack (each inner test is checked by its own pytest test)."""
    # Both files need TETHER_API_URL (the demo page needs no more: it signs its own user's token);
    # the rest is connect.test.mjs's. The stack is fresh, so the demo user starts unconnected.
    env = {
        **os.environ,
        "TETHER_API_URL": stack.api_url,
        "TETHER_PROJECT_ID": stack.project_id,
        "TETHER_PROJECT_SECRET_KEY": stack.state["projectSecretKey"],
        "TETHER_USER_TOKEN": stack.token("browser-user-1"),
        "TETHER_USER_TOKEN_2": stack.token("browser-user-2"),
        "TETHER_CHROMIUM": str(CHROMIUM),
        "TETHER_NO_CLIENT_API_URL": no_client_stack.api_url,
        "TETHER_PORTAL_APP_PORT": str(portal_app_port),
        "TETHER_SCREENSHOT_DIR": str(ARTIFACTS_DIR),
    }
    shutil.rmtree(ARTIFACTS_DIR, ignore_errors=True)
    ARTIFACTS_DIR.mkdir(parents=True)
    # node runs in its own process group, so a timeout ends the runner, the per-file node processes
    # and (through Playwright's SIGTERM handler, or its closed pipe) Chromium too.
    results = tmp_path_factory.mktemp("browser-results") / "results.jsonl"
    run = run_node_tests(BROWSER_DIR, env, results, timeout=NODE_TIMEOUT_S)
    if run.returncode != 0:
        run.output += f"\n--- tether dev logs ---\n{stack.logs()}"
        run.output += f"\n--- tether dev (no OAuth client) logs ---\n{no_client_stack.logs()}"
    return run


@node_tests.parametrize(BROWSER_DIR)
def test_in_headless_chromium(browser_run: NodeRun, inner: node_tests.InnerTest) -> None:
    """The connect popup and the demo page in Chromium (tests/browser/*.test.mjs), one result per test."""
    browser_run.check(inner)


def test_browser_run_reported_nothing_unaccounted(browser_run: NodeRun) -> None:
    """No failed hook, unloadable file or unlisted test hides behind the per-test results."""
    assert browser_run.unaccounted(node_tests.inner_tests(BROWSER_DIR)) == []
