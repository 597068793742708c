"""docs/quickstart.md, executed: every snippet marked `<!-- snippet: NAME (KIND) -->` runs, in the
guide's order, against a fresh `tether dev`, the way a reader would run it (except that the
workflow of step 5 is deployed before the browser snippets run: they are one module).

- `sh` snippets run in bash (`set -euo pipefail`) in a scratch directory holding the guide's
  `.tether/dev-state.json`, with the environment the `env` snippet exports;
- `node` and `python` snippets run as files there; the backend proxy snippet runs after the Python
  signing snippet, whose `tether_user_token` it uses (as the guide says);
- `browser` snippets run, concatenated, as one ES module of a page in headless Chromium (the SDK
  bundle mapped to `@useparagon/connect` with an import map, as a bundler would resolve it), with
  `<TETHER_URL>`, `<PROJECT_ID>` and `<USER_TOKEN>` filled in; the user token is the one the
  guide's Node.js snippet signed. The consent popup is approved by hand (tests/browser/quickstart-driver.mjs);
- the `npm` snippet is not run (no registry in tests): its version must be the one the tests install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devstack import RunningDevStack
from tether.client import TetherAdmin

REPO_ROOT = Path(__file__).resolve().parent.parent
GUIDE = REPO_ROOT / "docs" / "quickstart.md"
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
SNIPPET = re.compile(
    r"<!-- snippet: (?P<name>[\w-]+) \((?P<kind>[\w ,:]+)\) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.DOTALL
)
RUN_TIMEOUT_S = 60
HTTP_TIMEOUT = 10


@dataclass(frozen=True)
class Snippet:
    name: str
    kind: str
    code: str


def snippets() -> dict[str, Snippet]:
    text = GUIDE.read_text()
    found = {m["name"]: Snippet(m["name"], m["kind"].split(",")[0].strip(), m["code"]) for m in SNIPPET.finditer(text)}
    assert text.count("<!-- snippet:") == len(found), "a snippet marker is not followed by a fenced block"
    return found


class PageServer:
    """Serves the reader's page (the browser snippets as an ES module) on loopback."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, str]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = files.get(self.path)
                body = (found[1] if found else "not found").encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", found[0] if found else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quickstart")


@pytest.fixture(scope="module")
def page_server() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


@pytest.fixture(scope="module")
def stack(workdir: Path, page_server: PageServer) -> Iterator[RunningDevStack]:
    running = RunningDevStack(workdir / ".tether", extra_args=("--allow-origin", page_server.origin))
    running.state_file = workdir / ".tether" / "dev-state.json"  # where the guide reads it
    with running:
        yield running


def run(workdir: Path, command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"snippet {what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def run_sh(workdir: Path, snippet: Snippet, env: dict[str, str]) -> str:
    return run(workdir, ["bash", "-c", "set -euo pipefail\n" + snippet.code], env, snippet.name)


def run_python(workdir: Path, code: str, env: dict[str, str], what: str) -> str:
    # The repository on the path stands in for `pip install`ing Tether's Python client.
    return run(workdir, [sys.executable, "-c", code], {**env, "PYTHONPATH": str(REPO_ROOT)}, what)


def sdk_me(stack: RunningDevStack, token: str) -> Any:
    response = requests.get(
        f"{stack.api_url}/projects/{stack.project_id}/sdk/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_npm_snippet_installs_the_version_the_tests_use() -> None:
    [version] = re.findall(r"npm i @useparagon/connect@(\S+)", snippets()["npm"].code)
    for package in ("tests/node/package.json", "tests/browser/package.json", "demo/package.json"):
        pinned = json.loads((REPO_ROOT / package).read_text()).get("dependencies", {}).get("@useparagon/connect")
        assert pinned in (None, version), f"{package} pins {pinned}, the guide says {version}"
    installed = REPO_ROOT / "tests" / "node" / "node_modules" / "@useparagon" / "connect" / "package.json"
    if installed.exists():
        assert json.loads(installed.read_text())["version"] == version


@pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("node") is None or shutil.which("jq") is None,
    reason="the guide's snippets need Chromium, Node.js, jq, curl and openssl",
)
def test_every_snippet_of_the_guide_runs(stack: RunningDevStack, workdir: Path, page_server: PageServer) -> None:
    guide = snippets()
    kinds = {s.kind for s in guide.values()}
    assert kinds <= {"sh", "node", "python", "browser", "npm"}, kinds
    state = stack.state
    env = {name: value for name, value in os.environ.items() if not name.startswith("TETHER_")}

    # 0. The environment the shell snippets use, read from the local stack's state file.
    exported = run_sh(workdir, Snippet("env", "sh", guide["env"].code + "\nenv\n"), env)
    values = dict(line.split("=", 1) for line in exported.splitlines() if "=" in line)
    assert values["TETHER_URL"] == state["apiUrl"]
    assert values["TETHER_PROJECT_ID"] == state["projectId"]
    assert values["TETHER_PROJECT_SECRET_KEY"] == state["projectSecretKey"]
    env.update({name: values[name] for name in ("TETHER_URL", "TETHER_PROJECT_ID", "TETHER_PROJECT_SECRET_KEY")})

    # 1. A signing key, registered; tokens signed by the Node.js and the Python snippet.
    run_sh(workdir, guide["keygen"], env)
    registered = json.loads(run_sh(workdir, guide["register-key"], env))
    assert registered["kid"]
    (workdir / "sign.mjs").write_text(guide["sign-node"].code)
    node_token = run(workdir, ["node", "sign.mjs"], env, "sign-node").strip()
    python_token = run_python(workdir, guide["sign-python"].code, env, "sign-python").strip()
    for token in (node_token, python_token):
        assert sdk_me(stack, token)["id"] == "alice"

    # 2. The WordPress.com app (here the sandbox's, whose redirect URI is this stack's callback).
    app_env = {**env, "WPCOM_CLIENT_ID": state["devClientId"], "WPCOM_CLIENT_SECRET": state["devClientSecret"]}
    stored = json.loads(run_sh(workdir, guide["register-app"], app_env))
    assert stored["clientId"] == state["devClientId"]
    assert stored["clientSecret"] == "********"
    assert stored["usesDevelopmentKeys"] is False
    refused = json.loads(run_sh(workdir, guide["bad-scope"], env))
    assert refused["code"] == "invalid_field"
    # The answer the guide shows (up to its "valid: ..." list) is the one Tether gives.
    [shown] = re.findall(r'# \{"message": "(.*?); valid: ', guide["bad-scope"].code)
    assert refused["message"].startswith(shown + "; valid: "), (refused, shown)
    assert sdk_me(stack, node_token)["integrations"]["wordpress"]["usesDevelopmentKeys"] is False

    # 5 (first part). The workflow the event snippets trigger.
    deployed = json.loads(run_sh(workdir, guide["deploy-workflow"], env))
    assert deployed == {"id": "new-article", "version": 1}

    # 3-5. The browser snippets in Chromium, as user alice with the Node.js snippet's token.
    module = "\n".join(guide[name].code for name in guide if guide[name].kind == "browser")
    for placeholder, value in {
        "TETHER_URL": stack.api_url,
        "PROJECT_ID": stack.project_id,
        "USER_TOKEN": node_token,
    }.items():
        assert f'"<{placeholder}>"' in module, placeholder
        module = module.replace(f'"<{placeholder}>"', json.dumps(value))
    page_server.files.update(
        {
            "/": ("text/html; charset=utf-8", _page(stack.api_url)),
            "/paragon-esm.mjs": ("text/javascript", "export const { paragon } = window.ParagonConnect;\n"),
            "/snippets.mjs": ("text/javascript", module),
        }
    )
    result = run(
        BROWSER_DIR,
        ["node", "quickstart-driver.mjs"],
        {**env, "QUICKSTART_PAGE": page_server.origin + "/", "TETHER_CHROMIUM": str(CHROMIUM)},
        "browser snippets",
    )
    outcome = json.loads(result.strip().splitlines()[-1])
    assert outcome["done"] == {"ok": True}, outcome
    logged = outcome["console"]
    connected = [line for line in logged if line.startswith("connected ")]
    assert len(connected) == 1, logged
    me = sdk_me(stack, node_token)["integrations"]["wordpress"]
    assert me["enabled"] is True
    assert connected[0] == f"connected {me['credentialId']}"
    urls = [line for line in logged if line.startswith("https://")]
    assert urls, logged  # the sites' URLs, fetched through Tether's proxy from the page

    # 4. From the backend, as the same user: the Python client through the proxy.
    backend = run_python(workdir, guide["sign-python"].code + "\n" + guide["proxy-backend"].code, env, "proxy-backend")
    status, url = backend.strip().splitlines()[-1].split(" ", 1)
    assert status == "200"
    assert url.startswith("https://")

    # 5. The browser's event started a run of the workflow for alice; so does the backend's.
    admin = TetherAdmin(stack.api_url, stack.project_id, state["projectSecretKey"])
    [from_browser] = admin.list_runs(workflow_id="new-article", user_id="alice")["runs"]
    assert from_browser["trigger"]["payload"]["title"] == "Hello from my app"
    assert "event sent" in logged
    code = guide["sign-python"].code + "\n" + guide["event-backend"].code
    status, url = run_python(workdir, code, env, "event-backend").strip().splitlines()[-1].split(" ", 1)
    assert status == "SUCCEEDED"
    assert url.startswith("https://")
    runs = admin.list_runs(workflow_id="new-article", user_id="alice")["runs"]
    assert len(runs) == 2
    assert runs[0]["trigger"]["payload"]["title"] == "Hello from my backend"


def _page(api_url: str) -> str:
    """The reader's page: the SDK bundle, an import map naming it `@useparagon/connect` (what a
    bundler does), and a button whose click runs the snippets' module (the popup needs a click)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Quickstart</title>
<script src="{api_url}/demo/paragon-connect.js"></script>
<script type="importmap">{{"imports": {{"@useparagon/connect": "/paragon-esm.mjs"}}}}</script>
</head><body>
<button id="run" type="button">Connect WordPress.com</button>
<script type="module">
document.getElementById("run").addEventListener("click", async () => {{
  try {{
    await import("/snippets.mjs");
    window.__done = {{ ok: true }};
  }} catch (error) {{
    window.__done = {{ ok: false, error: String((error && error.message) || error) }};
  }}
}});
</script>
</body></html>
"""
