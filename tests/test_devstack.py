"""Black-box tests of `tether dev`: the state file, the SDK routes over real HTTP, CORS, safe logs,
and the real `@useparagon/connect` SDK (under Node.js) authenticating and connecting a sandbox
WordPress.com account against the stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import node_tests
from tests.devstack import RunningDevStack
from tests.node_tests import NodeRun, run_node_tests
from tether.sandbox_connect import connect_over_http

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = REPO_ROOT / "tests" / "node"
STATE_KEYS = (
    "apiUrl",
    "projectId",
    "projectSecretKey",
    "signingKeyId",
    "signingPrivateKeyPem",
    "wpcomOrigin",
    "devClientId",
    "devClientSecret",
    "allowedOrigins",
)
SDK_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Paragon-SDK-Version",
    "X-Paragon-Credential",
    "X-Paragon-Configuration-Id",
)
NODE_USER = "node-sdk-user"
# The connect tests (tests/node/connect.test.mjs) each need a user of their own: node runs the test
# files in parallel, and authenticate.test.mjs expects NODE_USER to have no connections.
NODE_CONNECT_USER = "node-sdk-connect-user"
NODE_DENY_USER = "node-sdk-deny-user"
# Connected before the Node tests run, for the proxy snippets (tests/node/proxy.test.mjs).
NODE_PROXY_USER = "node-sdk-proxy-user"
# The workflow tests' users (tests/node/workflows.test.mjs connects them through the SDK).
NODE_WORKFLOW_USER = "node-sdk-workflow-user"
NODE_WORKFLOW_OTHER_USER = "node-sdk-workflow-other-user"
HTTP_TIMEOUT = 10
NODE_TIMEOUT_S = 120
# The page the Node tests' window shim pretends to be (tests/node/shim.mjs: SDK_PAGE_ORIGIN).
NODE_PAGE_ORIGIN = "http://localhost:3000"


class StackUnderTest(RunningDevStack):
    """Remembers every token it issued, so the log check covers all of them."""

    def __init__(self, tmp_dir: Path) -> None:
        super().__init__(tmp_dir, extra_args=("--allow-origin", NODE_PAGE_ORIGIN))
        self.issued_tokens: list[str] = []

    def token(self, user: str, ttl: int = 3600) -> str:
        issued = super().token(user, ttl)
        self.issued_tokens.append(issued)
        return issued


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackUnderTest]:
    with StackUnderTest(tmp_path_factory.mktemp("devstack")) as running:
        yield running


def sdk_url(stack: RunningDevStack, path: str = "/sdk/me") -> str:
    return f"{stack.api_url}/projects/{stack.project_id}{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_state_file_has_every_key_and_is_private(stack: StackUnderTest) -> None:
    on_disk = json.loads(stack.state_file.read_text())
    missing = [key for key in STATE_KEYS if not on_disk.get(key)]
    assert not missing, f"state file lacks {missing}"
    assert on_disk["apiUrl"].startswith("http://127.0.0.1:")
    assert "proxy" not in on_disk["apiUrl"]
    assert "BEGIN" in on_disk["signingPrivateKeyPem"]
    # The demo page's origin (the API's own) and the one given with --allow-origin.
    assert on_disk["allowedOrigins"] == [on_disk["apiUrl"], NODE_PAGE_ORIGIN]
    mode = stat.S_IMODE(stack.state_file.stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_sdk_me_for_a_new_user(stack: StackUnderTest) -> None:
    response = requests.get(sdk_url(stack), headers=bearer(stack.token("alice")), timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    wordpress = body["integrations"]["wordpress"]
    assert wordpress["enabled"] is False
    assert wordpress["allCredentials"] == []
    assert body["project"]["id"] == stack.project_id
    assert "headless-cp" in body["project"]["accessibleFeatures"]
    assert body["meta"] == {}


def preflight(stack: StackUnderTest, origin: str) -> requests.Response:
    return requests.options(
        sdk_url(stack),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,content-type,x-paragon-sdk-version",
        },
        timeout=HTTP_TIMEOUT,
    )


@pytest.mark.parametrize("origin", ["demo", NODE_PAGE_ORIGIN])
def test_cors_preflight_allows_the_sdk_headers(stack: StackUnderTest, origin: str) -> None:
    origin = stack.api_url if origin == "demo" else origin
    response = preflight(stack, origin)
    assert response.status_code == 200, response.text
    assert response.headers.get("Access-Control-Allow-Origin") == origin, dict(response.headers)
    assert "Origin" in response.headers.get("Vary", "")
    allowed = {name.strip().lower() for name in response.headers.get("Access-Control-Allow-Headers", "").split(",")}
    missing = [name for name in SDK_REQUEST_HEADERS if name.lower() not in allowed]
    assert not missing, f"preflight does not allow {missing}; allowed: {sorted(allowed)}"


def test_cors_refuses_an_origin_the_dev_project_does_not_list(stack: StackUnderTest) -> None:
    response = preflight(stack, "http://localhost:3001")
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_missing_token_is_a_json_401(stack: StackUnderTest) -> None:
    response = requests.get(sdk_url(stack), timeout=HTTP_TIMEOUT)
    assert response.status_code == 401
    body = response.json()
    assert body["message"]
    assert body["code"]


def test_unknown_route_is_a_json_404_without_the_token(stack: StackUnderTest) -> None:
    token = stack.token("bob")
    response = requests.get(f"{stack.api_url}/no/such/route", headers=bearer(token), timeout=HTTP_TIMEOUT)
    assert response.status_code == 404
    body = response.json()
    assert body["message"]
    assert body["code"]
    assert token not in response.text
    assert token.rsplit(".", 1)[-1] not in response.text


@pytest.fixture(scope="module")
def node_run(stack: StackUnderTest, tmp_path_factory: pytest.TempPathFactory) -> NodeRun:
    """tests/node/ run once against the stack (each inner test is checked by its own pytest test)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@useparagon" / "connect").is_dir():
        reason = "Node.js or tests/node/node_modules (npm ci in tests/node) is missing"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    proxy_token = stack.token(NODE_PROXY_USER)
    connect_over_http(stack.api_url, stack.project_id, proxy_token)
    env = {
        **os.environ,
        "TETHER_API_URL": stack.api_url,
        "TETHER_PROJECT_ID": stack.project_id,
        "TETHER_USER_TOKEN": stack.token(NODE_USER),
        "TETHER_WPCOM_ORIGIN": stack.state["wpcomOrigin"],
        "TETHER_CONNECT_USER_TOKEN": stack.token(NODE_CONNECT_USER),
        "TETHER_DENY_USER_TOKEN": stack.token(NODE_DENY_USER),
        "TETHER_PROXY_USER_TOKEN": proxy_token,
        "TETHER_PROJECT_SECRET_KEY": stack.state["projectSecretKey"],
        "TETHER_WORKFLOW_USER_TOKEN": stack.token(NODE_WORKFLOW_USER),
        "TETHER_WORKFLOW_OTHER_USER_TOKEN": stack.token(NODE_WORKFLOW_OTHER_USER),
    }
    results = tmp_path_factory.mktemp("node-results") / "results.jsonl"
    return run_node_tests(NODE_DIR, env, results, timeout=NODE_TIMEOUT_S)


@node_tests.parametrize(NODE_DIR)
def test_real_sdk_under_node(node_run: NodeRun, inner: node_tests.InnerTest) -> None:
    """The real @useparagon/connect SDK under Node.js (tests/node/*.test.mjs), one result per test."""
    node_run.check(inner)


def test_node_reported_nothing_unaccounted(node_run: NodeRun) -> None:
    """No failed hook, unloadable file or unlisted test hides behind the per-test results."""
    assert node_run.unaccounted(node_tests.inner_tests(NODE_DIR)) == []


def test_logs_hold_no_tokens_or_keys(stack: StackUnderTest, node_run: NodeRun) -> None:
    # Asks for node_run so that the Node tests' requests (the SDK puts tokens in query strings)
    # are in the logs whatever the test order.
    token = stack.token("carol")
    response = requests.get(sdk_url(stack), params={"userToken": token}, headers=bearer(token), timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    response = requests.get(sdk_url(stack), params={"userToken": token}, timeout=HTTP_TIMEOUT)
    assert response.status_code == 401

    # The access log line is written by the server's threads; give it a moment to land.
    access_line = re.compile(r"^.*\bGET \S*/sdk/me\b.*\b200\b.*$", re.MULTILINE)
    deadline = time.monotonic() + 5
    logs = stack.logs()
    while not access_line.search(logs) and time.monotonic() < deadline:
        time.sleep(0.1)
        logs = stack.logs()
    assert access_line.search(logs), f"no access log line for /sdk/me in:\n{logs}"

    assert "userToken" not in logs
    for issued in stack.issued_tokens:
        assert issued not in logs
        assert issued.rsplit(".", 1)[-1] not in logs  # the signature alone
    state = stack.state
    assert state["projectSecretKey"] not in logs
    assert state["devClientSecret"] not in logs
    pem_lines = [line.strip() for line in state["signingPrivateKeyPem"].splitlines() if "-----" not in line]
    # Every body line, except a very short tail line that could match log text by coincidence.
    pem_body = [line for line in pem_lines if len(line) >= 16]
    assert len(pem_body) >= 10
    leaked = [line for line in pem_body if line in logs]
    assert not leaked, f"{len(leaked)} line(s) of the signing key are in the logs"


def test_the_dev_project_has_the_demo_workflow(stack: StackUnderTest) -> None:
    assert stack.state["workflows"] == ["post-articles"]
    admin = bearer(stack.state["projectSecretKey"])
    response = requests.get(sdk_url(stack, "/workflows/post-articles"), headers=admin, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    deployed = response.json()
    assert deployed["trigger"] == {"type": "app_event", "event": "article.published"}
    assert deployed["defaultEnabled"] is True
    assert [step["id"] for step in deployed["steps"]] == ["sites", "post"]


def test_demo_runs_shows_the_demo_users_runs_only(stack: StackUnderTest, node_run: NodeRun) -> None:
    """The demo page's dev-only run view: other users' runs (the Node tests made some) stay out."""
    admin = bearer(stack.state["projectSecretKey"])
    everyone = requests.get(sdk_url(stack, "/runs"), headers=admin, timeout=HTTP_TIMEOUT).json()["runs"]
    assert {run["userId"] for run in everyone} >= {NODE_WORKFLOW_USER, NODE_WORKFLOW_OTHER_USER}
    response = requests.get(f"{stack.api_url}/demo/runs", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"runs": []}
    token = stack.token("demo-user")
    connect_over_http(stack.api_url, stack.project_id, token, wpcom_user="bobortega")
    triggered = requests.post(
        f"{stack.api_url}/projects/{stack.project_id}/sdk/events/trigger",
        json={"name": "article.published", "payload": {"title": "From the demo user", "body": "x"}},
        headers=bearer(token),
        timeout=HTTP_TIMEOUT,
    )
    assert triggered.status_code == 201, triggered.text
    [run_id] = triggered.json()["runIds"]
    [shown] = requests.get(f"{stack.api_url}/demo/runs", timeout=HTTP_TIMEOUT).json()["runs"]
    assert (shown["id"], shown["userId"], shown["workflowId"]) == (run_id, "demo-user", "post-articles")
    assert "steps" in shown


def test_wpcom_origin_points_the_stack_elsewhere(tmp_path: Path) -> None:
    """`--wpcom-origin` replaces the sandbox: no sandbox, no dev client, consent URLs go there."""
    from wpcom_sandbox.server import WordPressSandbox

    outside = WordPressSandbox()  # stands in for "another WordPress.com-compatible origin"
    outside.start()
    try:
        with RunningDevStack(tmp_path, extra_args=("--wpcom-origin", outside.origin)) as other:
            assert other.state["wpcomOrigin"] == outside.origin
            assert "devClientId" not in other.state
            assert "devClientSecret" not in other.state
            token = other.token("origin-user")
            built = requests.get(
                f"{other.api_url}/v2/projects/{other.project_id}/sdk/actions/build-oauth",
                params={"action": "wordpress", "oauthMetaKeyId": "origin-test"},
                headers=bearer(token),
                timeout=HTTP_TIMEOUT,
            )
            # No dev keys exist for a foreign origin until the operator stores some.
            assert built.status_code == 409
            assert built.json()["code"] == "integration_not_configured"
            # ... and the SDK is not told it uses them.
            me = requests.get(sdk_url(other), headers=bearer(token), timeout=HTTP_TIMEOUT).json()
            assert me["integrations"]["wordpress"]["usesDevelopmentKeys"] is False
            listed = requests.get(sdk_url(other, "/sdk/integrations"), headers=bearer(token), timeout=HTTP_TIMEOUT)
            assert listed.json()[0]["usesDevelopmentKeys"] is False
    finally:
        outside.stop()
