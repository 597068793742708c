"""The Connect Portal: the page the SDK's `connect()` frames (`CONNECT_PUBLIC_URL/ui`) and its
script, stylesheet and icons (package files in `chalicelib/portal/`, read once).

The page is a shell; `portal.js` fills it from the SDK's postMessage protocol (described at the
top of that file). Its Content-Security-Policy allows scripts, styles and images from Tether's
own origin only, no connections, no inline code, Trusted Types for every DOM sink (the script
writes text only), and `frame-ancestors` = the project's allowed origins (`*` when it lists
none, like CORS).

The SDK creates its frame before `authenticate()`, so the first load usually has no
`projectId`: that page frames anywhere but shows and keeps nothing; on the SDK's first
`UI_UPDATE` it reloads itself with the project id the SDK names (`?projectId=`), and that page
is the one with the project's `frame-ancestors`.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from chalice.app import Blueprint, Response

from chalicelib.api.http import json_route, project_id_param, query_params
from chalicelib.api.pages import error_page, html_route
from chalicelib.domain.errors import NotFound
from chalicelib.domain.providers import CATALOGUE
from chalicelib.wiring import get_services

portal = Blueprint(__name__)

ASSET_DIR = Path(__file__).resolve().parent.parent / "portal"
ASSET_TYPES = {
    "portal.js": "text/javascript; charset=utf-8",
    "portal.css": "text/css; charset=utf-8",
    **{f"{kind}.svg": "image/svg+xml" for kind in CATALOGUE},
}
ASSET_MAX_AGE_SECONDS = 300


def portal_csp(frame_ancestors: str) -> str:
    """The portal page's policy: only Tether's own files, nothing inline, no network calls."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'; require-trusted-types-for 'script'; trusted-types 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


def portal_page(project_id: str, allowed_origins: tuple[str, ...]) -> Response:
    """The portal shell for a project (or the project-less first load when `project_id` is "")."""
    origins = " ".join(allowed_origins)
    ancestors = origins if project_id and allowed_origins else "*"
    document = (
        _asset("portal.html")
        .replace(b"__PROJECT__", html.escape(project_id).encode())
        .replace(b"__ORIGINS__", html.escape(origins).encode())
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": portal_csp(ancestors),
    }
    return Response(body=document, status_code=200, headers=headers)


@html_route(portal, "/connect/ui")
def connect_portal() -> Response:
    """The Connect Portal page `paragon.connect()` frames."""
    raw = query_params(portal.current_request).get("projectId") or ""
    if not raw:
        return portal_page("", ())
    try:
        project_id = project_id_param(raw)
        config = get_services().project_configs.get(project_id)
        if config is None:
            raise NotFound("No such project.", code="project_not_found")
    except NotFound as error:
        return error_page("Connect Portal unavailable", error.message, error.status, error.code)
    return portal_page(project_id, config.allowed_origins)


@functools.cache
def _asset(name: str) -> bytes:
    return (ASSET_DIR / name).read_bytes()


@json_route(portal, "/connect/ui/assets/{name}", ["GET"])
def portal_asset(name: str) -> Response:
    """The portal's script, stylesheet and integration icons."""
    content_type = ASSET_TYPES.get(name)
    if content_type is None:
        raise NotFound("No such portal file.", code="portal_file_not_found")
    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": f"public, max-age={ASSET_MAX_AGE_SECONDS}",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return Response(body=_asset(name), status_code=200, headers=headers)
