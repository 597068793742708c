"""A Python client for Tether, for server-side code: the Paragon SDK's verbs.

from tether.client import Tether
tether = Tether("https://tether.example.com")
tether.authenticate(project_id, user_token)
sites = tether.request("wordpress", "v1.1/me/sites").body["sites"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

ERROR_HEADER = "X-Tether-Error"


class TetherError(Exception):
    """An error answered by Tether itself (`{"message", "code"}`), not by the provider."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthenticationError(TetherError):
    """The user token (or project key) was refused: 401 or 403."""


class InvalidRequestError(TetherError):
    """Tether refused the request as malformed or unknown: 400, 404, 409, 413, 415."""


class NotConnectedError(TetherError):
    """The user must connect (or reconnect) the integration first: 422."""


class RateLimitedError(TetherError):
    """The provider kept throttling: 429."""


class UpstreamError(TetherError):
    """The provider could not be reached, timed out, or answered too much: 5xx from Tether."""


def _error_class(status: int) -> type[TetherError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 422:
        return NotConnectedError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return UpstreamError
    return InvalidRequestError


@dataclass(frozen=True)
class ProxyResponse:
    """The provider's answer: status, headers, and the body (parsed JSON, else text or bytes)."""

    status: int
    headers: dict[str, str]
    body: Any = field(repr=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


class Tether:
    """A Tether deployment, used on behalf of one end user at a time."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._project_id: str | None = None
        self._token: str | None = None
        self.user: dict[str, Any] | None = None

    def authenticate(self, project_id: str, user_token: str) -> dict[str, Any]:
        """Check the user token with Tether and load the user (`/sdk/me`)."""
        self._project_id, self._token = project_id, user_token
        response = self._send("GET", "/sdk/me")
        self.user = response.json()
        return self.user

    def request(
        self,
        integration: str,
        path: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        files: dict[str, Any] | None = None,
    ) -> ProxyResponse:
        """Call the integration's API through Tether's proxy.

        `body`: a dict/list is sent as JSON, bytes/str as is (set `Content-Type`), and with
        `files` (requests' multipart format) as form fields. Provider errors come back as a
        `ProxyResponse` with their status; Tether's own refusals raise `TetherError` subclasses.
        """
        route = f"/sdk/proxy/{quote(integration, safe='')}/{path.lstrip('/')}"
        sent_headers = dict(headers or {})
        data: Any = None
        if files is not None:
            data = body
        elif isinstance(body, dict | list):
            data = json.dumps(body)
            sent_headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = body
        response = self._send(method.upper(), route, data=data, headers=sent_headers, files=files)
        return ProxyResponse(response.status_code, dict(response.headers), _parse(response))

    def _send(self, method: str, route: str, **kwargs: Any) -> requests.Response:
        if self._project_id is None or self._token is None:
            raise AuthenticationError(401, "not_authenticated", "Call authenticate(project_id, user_token) first.")
        headers = {"Accept": "application/json", **(kwargs.pop("headers", None) or {})}
        headers["Authorization"] = f"Bearer {self._token}"
        response = self._session.request(
            method,
            f"{self.base_url}/projects/{quote(self._project_id, safe='')}{route}",
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
            **kwargs,
        )
        if ERROR_HEADER in response.headers:
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            message = str(payload.get("message", response.reason))
            raise _error_class(response.status_code)(response.status_code, response.headers[ERROR_HEADER], message)
        return response


def _parse(response: requests.Response) -> Any:
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            return response.text
    if content_type.startswith("text/"):
        return response.text
    return response.content
