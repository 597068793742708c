"""Drives the headless connect flow over the chalice test client and the sandbox, as the SDK's
popup would: oauth-nonce page (cookie), build-oauth, consent at the sandbox, then the callback."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from tests.conftest import Api, ProjectHandle, Response
from wpcom_sandbox.server import WordPressSandbox


@dataclass
class Attempt:
    """A started connect attempt, up to the provider's redirect back to Tether."""

    project: ProjectHandle
    user_id: str
    token: str
    session_id: str
    cookie: str | None
    callback_path: str

    def callback_query(self) -> dict[str, str]:
        query = urlsplit(self.callback_path).query
        return {key: values[0] for key, values in parse_qs(query).items()}


def popup_headers(opener: str, *, referer: str | None = "origin") -> dict[str, str]:
    """What a browser sends when a page on `opener` opens the popup with `window.open` (the
    Referer is cut to the origin by the default strict-origin-when-cross-origin policy)."""
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    if referer is not None:
        headers["Referer"] = f"{opener}/" if referer == "origin" else referer
    return headers


def open_popup(
    api: Api, project: ProjectHandle, token: str, opener: str = "http://app.test", **headers: str
) -> Response:
    """The popup's first page, as a browser loads it when a page on `opener` opens it."""
    return api.call(
        "GET",
        f"/projects/{project.id}/sdk/actions/oauth-nonce?action=wordpress&originForPostMessage={quote(opener, safe='')}"
        f"&userToken={token}",
        headers={**popup_headers(opener), **headers},
    )


def binding_cookie(api: Api, project: ProjectHandle, token: str, opener: str = "http://app.test") -> str:
    """Open the popup's first page and return the binding cookie it sets."""
    page = open_popup(api, project, token, opener)
    assert page.status == 200, page.body
    jar: SimpleCookie = SimpleCookie()
    jar.load(page.headers["Set-Cookie"])
    return jar["tether_connect"].value


def build_oauth(
    api: Api, project: ProjectHandle, token: str, session_id: str, install_options: str | None = None
) -> Response:
    """The SDK's build-oauth call."""
    path = f"/v2/projects/{project.id}/sdk/actions/build-oauth?action=wordpress&oauthMetaKeyId={session_id}"
    if install_options is not None:
        path += "&installOptions=" + quote(install_options)
    return api.call("GET", path, token=token)


def start(
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    user_id: str = "user-1",
    *,
    decision: str = "approve",
    sandbox_user: str | None = None,
    sandbox_site: str | None = None,
    install_options: str | None = None,
    opener: str = "http://app.test",
) -> Attempt:
    """Run the flow up to (not including) the callback, the popup opened by a page on `opener`."""
    token = project.token(user_id)
    cookie = binding_cookie(api, project, token, opener)
    session_id = secrets.token_hex(8)
    built = build_oauth(api, project, token, session_id, install_options)
    assert built.status == 200, built.body
    url = built.json["redirectUrl"]
    assert url.startswith(sandbox.origin + "/oauth2/authorize?")
    extra = f"&sandbox_auto={decision}"
    if sandbox_user:
        extra += f"&sandbox_user={sandbox_user}"
    if sandbox_site:
        extra += f"&sandbox_site={sandbox_site}"
    consent = requests.get(url + extra, allow_redirects=False, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    location = urlsplit(consent.headers["Location"])
    assert location.path == "/oauth/callback"
    return Attempt(project, user_id, token, session_id, cookie, f"{location.path}?{location.query}")


def callback(api: Api, attempt: Attempt, cookie: str | None = "same", path: str | None = None) -> Response:
    """Deliver the provider's redirect to Tether's callback, with the popup's cookie."""
    value = attempt.cookie if cookie == "same" else cookie
    headers = {"Cookie": f"tether_connect={value}"} if value else {}
    return api.call("GET", path or attempt.callback_path, headers=headers)


def connect(api: Api, project: ProjectHandle, sandbox: WordPressSandbox, user_id: str = "user-1", **kwargs: Any) -> str:
    """A complete, successful connect; returns the credential id."""
    attempt = start(api, project, sandbox, user_id, **kwargs)
    page = callback(api, attempt)
    assert page.status == 200, page.body
    assert b'<h1 class="ok" id="result" data-ok="true">Connected</h1>' in page.body
    assert b'<p id="detail">Your WordPress.com account is connected. You can close this window.</p>' in page.body
    session = api.call(
        "GET", f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}", token=attempt.token
    )
    credential_id: str = session.json["connectCredentialId"]
    return credential_id
