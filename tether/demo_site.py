"""The local stack's demo page (`/demo/`): the real Paragon SDK in a browser, against Tether.

Local stack only: it hands out a user token for the dev project's demo user (or the user named by
`?user=`) to whoever loads the page, which is fine on loopback and nowhere else.

`/demo/runs` shows the page the user's latest workflow runs with their steps. The demo server
reads them in-process (the same use case as the admin runs API) and answers only that user's
runs in the dev project: the project secret key never leaves the server, and the page learns
nothing its own user token could not already cause or see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from chalicelib.services.user_tokens import MAX_USER_ID_CHARS
from tether.tokens import sign_user_token

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SDK_BUNDLE = DEMO_DIR / "node_modules" / "@useparagon" / "connect" / "dist" / "src" / "index.js"
DEMO_USER = "demo-user"
# How many of the demo user's latest runs `/demo/runs` shows.
DEMO_RUNS_SHOWN = 5


@dataclass(frozen=True)
class DemoFile:
    """What to send for one demo path."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class DemoSite:
    """Serves the demo page for one project, signing tokens with the dev signing key."""

    api_url: str
    project_id: str
    private_key_pem: str = field(repr=False)
    # The demo user's latest runs, newest first, each with its steps (see `demo_user_runs`).
    runs: Callable[[str], list[dict[str, Any]]] | None = field(default=None, repr=False)

    def get(self, path: str, query: str = "") -> DemoFile | None:
        """The response for a `/demo...` path (and its query string), or None when the path is
        not the demo's."""
        if path in ("/demo", "/demo/", "/demo/index.html"):
            return _file(DEMO_DIR / "index.html", "text/html; charset=utf-8")
        if path == "/demo/demo.js":
            return _file(DEMO_DIR / "demo.js", "text/javascript; charset=utf-8")
        user_id = parse_qs(query, keep_blank_values=True).get("user", [DEMO_USER])[0]
        if path == "/demo/config.json":
            return self._config(user_id)
        if path == "/demo/runs" and self.runs is not None:
            return self._runs(user_id)
        if path == "/demo/paragon-connect.js":
            return _sdk_bundle()
        if path.startswith("/demo/"):
            return DemoFile(404, "text/plain; charset=utf-8", b"Not found.\n")
        return None

    def _config(self, user_id: str) -> DemoFile:
        """The page's settings, with a user token for `user_id` (the page's `?user=`)."""
        if not user_id.strip() or len(user_id) > MAX_USER_ID_CHARS:
            error = {"message": f"?user= must be 1 to {MAX_USER_ID_CHARS} characters.", "code": "invalid_user"}
            return DemoFile(400, "application/json", json.dumps(error).encode())
        config = {
            "apiUrl": self.api_url,
            "projectId": self.project_id,
            "userId": user_id,
            "userToken": sign_user_token(self.private_key_pem, user_id, 3600),
        }
        return DemoFile(200, "application/json", json.dumps(config).encode())

    def _runs(self, user_id: str) -> DemoFile:
        from chalicelib.domain.errors import TetherError

        assert self.runs is not None
        body: dict[str, Any]
        try:
            status, body = 200, {"runs": self.runs(user_id)}
        except TetherError as error:
            status, body = error.status, {"message": error.message, "code": error.code}
        return DemoFile(status, "application/json", json.dumps(body).encode())


def demo_user_runs(project_id: str, user_id: str = DEMO_USER) -> list[dict[str, Any]]:
    """The user's latest runs in the project, newest first, each with its steps."""
    from chalicelib.services import workflow_runs
    from chalicelib.wiring import get_services

    ports = get_services().run_ports
    runs, _ = workflow_runs.list_runs(ports, project_id, {"userId": user_id}, DEMO_RUNS_SHOWN)
    return [workflow_runs.run_view(*workflow_runs.get_run(ports, project_id, run.id)) for run in runs]


def _file(path: Path, content_type: str) -> DemoFile:
    return DemoFile(200, content_type, path.read_bytes())


def _sdk_bundle() -> DemoFile:
    """The SDK's CommonJS bundle, wrapped so a plain <script> defines `window.ParagonConnect`."""
    if not SDK_BUNDLE.exists():
        message = b"The Paragon SDK is not installed: run `make setup` (npm ci in demo/).\n"
        return DemoFile(503, "text/plain; charset=utf-8", message)
    wrapped = (
        b"(function(){var module={exports:{}};var exports=module.exports;\n"
        + SDK_BUNDLE.read_bytes()
        + b"\nwindow.ParagonConnect=module.exports;})();\n"
    )
    return DemoFile(200, "text/javascript; charset=utf-8", wrapped)
