"""The local stack's demo page (`/demo/`): the real Paragon SDK in a browser, against Tether.

Local stack only: it hands out a user token for the dev project's demo user to whoever loads
the page, which is fine on loopback and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tether.tokens import sign_user_token

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SDK_BUNDLE = DEMO_DIR / "node_modules" / "@useparagon" / "connect" / "dist" / "src" / "index.js"
DEMO_USER = "demo-user"


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

    def get(self, path: str) -> DemoFile | None:
        """The response for a `/demo...` path, or None when the path is not the demo's."""
        if path in ("/demo", "/demo/", "/demo/index.html"):
            return _file(DEMO_DIR / "index.html", "text/html; charset=utf-8")
        if path == "/demo/demo.js":
            return _file(DEMO_DIR / "demo.js", "text/javascript; charset=utf-8")
        if path == "/demo/config.js":
            config = {
                "apiUrl": self.api_url,
                "projectId": self.project_id,
                "userId": DEMO_USER,
                "userToken": sign_user_token(self.private_key_pem, DEMO_USER, 3600),
            }
            body = f"window.TETHER_DEMO = {json.dumps(config)};\n".encode()
            return DemoFile(200, "text/javascript; charset=utf-8", body)
        if path == "/demo/paragon-connect.js":
            return _sdk_bundle()
        if path.startswith("/demo/"):
            return DemoFile(404, "text/plain; charset=utf-8", b"Not found.\n")
        return None


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
