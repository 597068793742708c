"""Connects a sandbox WordPress.com account over real HTTP against a running local stack, the way
the SDK's popup does (oauth-nonce page with its cookie, build-oauth, consent, callback).

For tests, benchmarks and demos of the local stack: it relies on the sandbox's
`sandbox_auto=approve` automation, which the real WordPress.com does not have."""

from __future__ import annotations

import secrets
import time

import requests


def connect_over_http(
    api_url: str,
    project_id: str,
    user_token: str,
    wpcom_user: str = "alicebaker",
    opener_origin: str | None = None,
) -> str:
    """Run the connect flow for the token's user; returns the new credential id.

    The popup is opened, as far as Tether can tell, by a page on `opener_origin` (default: the
    API's own origin, where the local stack serves its demo page and which it allows)."""
    browser = requests.Session()
    base = f"{api_url}/projects/{project_id}"
    opener = opener_origin or api_url.rstrip("/")
    nonce = browser.get(
        f"{base}/sdk/actions/oauth-nonce",
        params={"action": "wordpress", "userToken": user_token, "originForPostMessage": opener},
        # What a browser sends on the navigation of a popup that a page on `opener` opened.
        headers={"Referer": f"{opener}/", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
        timeout=10,
    )
    if nonce.status_code != 200:  # not raise_for_status(): its message quotes the URL, token included
        raise RuntimeError(f"the popup's first page answered {nonce.status_code}")
    session_id = secrets.token_hex(8)
    built = requests.get(
        f"{api_url}/v2/projects/{project_id}/sdk/actions/build-oauth",
        params={"action": "wordpress", "oauthMetaKeyId": session_id},
        headers={"Authorization": f"Bearer {user_token}"},
        timeout=10,
    )
    if built.status_code != 200:
        raise RuntimeError(f"build-oauth answered {built.status_code}: {_message(built)}")
    consent_url = built.json()["redirectUrl"] + f"&sandbox_auto=approve&sandbox_user={wpcom_user}"
    page = browser.get(consent_url, timeout=10)  # follows the redirect to Tether's callback
    if page.status_code != 200:
        where = "the OAuth callback" if "/oauth/callback" in page.url else "the consent page"
        raise RuntimeError(f"{where} answered {page.status_code} (is {wpcom_user!r} a sandbox user?)")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        polled = requests.get(
            f"{base}/sdk/actions/session-id/{session_id}",
            headers={"Authorization": f"Bearer {user_token}"},
            timeout=10,
        ).json()
        if "connectCredentialId" in polled:
            return str(polled["connectCredentialId"])
        time.sleep(0.1)
    raise RuntimeError("the connect session never completed")


def _message(response: requests.Response) -> str:
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
