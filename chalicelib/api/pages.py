"""The small HTML pages of the connect popup. Every dynamic value is escaped."""

from __future__ import annotations

import functools
import html
import json
import logging
import secrets
import traceback
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.http import unencodable_text
from chalicelib.domain.errors import TetherError

log = logging.getLogger("tether.api")
HtmlView = Callable[..., Response]

BASE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page(
    title: str,
    body_html: str,
    script: str,
    status: int,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    nonce = secrets.token_urlsafe(16)
    headers: dict[str, str | list[str]] = {
        **BASE_HEADERS,
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        **(extra_headers or {}),
    }
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no request for /favicon.ico (a 404 in the console)
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1e1e1e}"
        "h1{font-size:1.4rem}.ok{color:#00753a}.error{color:#b32d2e}</style></head><body>"
        f'{body_html}<script nonce="{nonce}">{script}</script></body></html>'
    )
    return Response(body=document.encode("utf-8"), status_code=status, headers=headers)


def js_string(value: str) -> str:
    """A JavaScript string literal safe to embed inside a <script> element: `<`, `>` and `&` are
    escaped, so no value can close the element (`</script>`) or open a comment (`<!--`)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def oauth_nonce_page(target_origin: str, set_cookie: str) -> Response:
    """The popup's first page: tells the opener it loaded, then the SDK sends it to the provider.

    `target_origin` is the validated origin the message goes to (never `*`)."""
    script = (
        "(function(){try{if(window.opener){window.opener.postMessage({type:'oauth-nonce-loaded'},"
        + js_string(target_origin)
        + ");}}catch(e){}})();"
    )
    body = "<h1>Connecting…</h1><p>Taking you to sign in. This window closes when you are done.</p>"
    return _page("Connecting…", body, script, 200, {"Set-Cookie": set_cookie})


def error_page(title: str, detail: str, status: int, code: str | None = None) -> Response:
    """A plain error page for the popup (no script), with the error's code when there is one."""
    body = f'<h1 class="error">{html.escape(title)}</h1><p id="detail">{html.escape(detail)}</p>'
    if code:
        body += f'<p><small>Error code: <code id="code">{html.escape(code)}</code></small></p>'
    return _page(title, body, "", status)


def result_page(ok: bool, title: str, detail: str, status: int) -> Response:
    """The OAuth callback's result: what happened; it closes itself (sooner on success)."""
    css = "ok" if ok else "error"
    body = (
        f'<h1 class="{css}" id="result" data-ok="{"true" if ok else "false"}">{html.escape(title)}</h1>'
        f'<p id="detail">{html.escape(detail)}</p><p><small>This window closes by itself.</small></p>'
    )
    delay = 1500 if ok else 10000
    script = f"setTimeout(function(){{window.close();}},{delay});"
    return _page(title, body, script, status)


def html_route(blueprint: Blueprint, path: str) -> Callable[[HtmlView], HtmlView]:
    """Register a GET route answering an HTML page; errors become HTML error pages too."""

    def register(view: HtmlView) -> HtmlView:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Response:
            refusal = unencodable_text(blueprint.current_request)
            if refusal is not None:
                return error_page("This address is not valid", refusal.message, refusal.status, refusal.code)
            try:
                return view(*args, **kwargs)
            except TetherError as error:
                return error_page("Something went wrong", error.message, error.status)
            except Exception as exc:  # noqa: BLE001 - the page must stay a page, never chalice's JSON 500
                log.error("unhandled %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
                return error_page("Something went wrong", "Tether could not show this page.", 500)

        blueprint.route(path, methods=["GET"], content_types=["*/*"])(guarded)
        return view

    return register
