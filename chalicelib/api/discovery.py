"""Discovery routes: `GET /` lists the API's entry points, `GET /openapi.json` serves its spec."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.http import json_response, json_route
from chalicelib.domain.errors import NotFound
from chalicelib.wiring import get_services

discovery = Blueprint(__name__)

# docs/openapi.json, reached through a symlink so that `chalice package` puts it in the bundle.
SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi.json"
PUBLIC = {"Access-Control-Allow-Origin": "*"}


@functools.lru_cache(maxsize=1)
def _spec_text() -> str | None:
    try:
        return SPEC_FILE.read_text(encoding="utf-8")
    except OSError:
        return None


def index_view(base: str) -> dict[str, Any]:
    """What `GET /` answers: a name and the API's main links below `base` (the public URL)."""
    return {
        "name": "Tether",
        "description": "Self-hosted embedded integrations; a backend for the Paragon Connect SDK.",
        "links": {
            "openapi": f"{base}/openapi.json",
            "sdkUser": f"{base}/projects/{{projectId}}/sdk/me",
            "sdkIntegrations": f"{base}/projects/{{projectId}}/sdk/integrations",
            "proxy": f"{base}/projects/{{projectId}}/sdk/proxy/{{integration}}/{{path}}",
            "oauthCallback": f"{base}/oauth/callback",
            "project": f"{base}/projects/{{projectId}}",
            "integrationSettings": f"{base}/projects/{{projectId}}/integrations/{{integration}}",
            "signingKeys": f"{base}/projects/{{projectId}}/signing-keys",
            "users": f"{base}/projects/{{projectId}}/users",
        },
    }


@json_route(discovery, "/", ["GET"])
def index() -> Response:
    """The API's name and links (no authentication)."""
    return json_response(index_view(get_services().settings.public_url), headers=PUBLIC)


@json_route(discovery, "/openapi.json", ["GET"])
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API (no authentication)."""
    text = _spec_text()
    if text is None:
        raise NotFound("This deployment has no copy of its OpenAPI document.", code="openapi_not_found")
    json.loads(text)  # a broken bundle fails here, as a JSON 500, not as a half document
    return Response(body=text, status_code=200, headers={"Content-Type": "application/json", **PUBLIC})
