"""A Python client for Tether, for server-side code: the Paragon SDK's verbs, and (`TetherAdmin`)
a project's admin API for workflows and their runs.

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

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        # The whole error body: some errors carry more than the message (`problems` of `invalid_workflow`).
        self.body: dict[str, Any] = body or {}


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

    def event(self, name: str, payload: Any = None, *, idempotency_key: str | None = None) -> list[str]:
        """Send an app event (the SDK's `paragon.event`): the user's enabled workflows with an
        `app_event` trigger for `name` start; answers their run ids. With `idempotency_key`, a
        repeated send starts nothing new."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body = json.dumps({"name": name, "payload": {} if payload is None else payload})
        response = self._send("POST", "/sdk/events/trigger", data=body, headers=headers)
        return [str(run_id) for run_id in response.json().get("runIds", [])]

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


class TetherAdmin:
    """One project's admin API (project secret key): workflows, their runs and replays.

    Every error answer raises a `TetherError` subclass; a network failure raises requests' own
    `RequestException`."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        secret_key: str,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self._secret_key = secret_key
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"TetherAdmin({self.base_url!r}, {self.project_id!r})"

    def deploy_workflow(self, workflow_id: str, definition: Any) -> dict[str, Any]:
        """Deploy a definition as the workflow's next version; `invalid_workflow` lists its problems."""
        return self._json("PUT", f"/workflows/{quote(workflow_id, safe='')}", body=definition)

    def list_workflows(self) -> list[dict[str, Any]]:
        """Every workflow of the project, at its current version."""
        workflows: list[dict[str, Any]] = self._json("GET", "/workflows")["workflows"]
        return workflows

    def get_workflow(self, workflow_id: str, *, asl: bool = False) -> dict[str, Any]:
        """The workflow at its current version (with `asl=True`: its compiled state machine too)."""
        return self._json("GET", f"/workflows/{quote(workflow_id, safe='')}", params={"asl": "1"} if asl else None)

    def delete_workflow(self, workflow_id: str) -> None:
        """Remove the workflow and its state machines."""
        self._send("DELETE", f"/workflows/{quote(workflow_id, safe='')}")

    def rotate_webhook_secret(self, workflow_id: str, grace_seconds: int | None = None) -> dict[str, Any]:
        """A new webhook secret; the previous one keeps signing for the grace period:
        `{"webhookUrl", "webhookSecret", "previousSecretValidUntil"}`."""
        body = {} if grace_seconds is None else {"graceSeconds": grace_seconds}
        return self._json("POST", f"/workflows/{quote(workflow_id, safe='')}/webhook-secret", body=body)

    def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        user_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """A page of runs, newest first: `{"runs": [...], "nextCursor": str | None}`."""
        params = {"workflowId": workflow_id, "userId": user_id, "status": status, "limit": limit, "cursor": cursor}
        return self._json(
            "GET", "/runs", params={key: str(value) for key, value in params.items() if value is not None}
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run with its steps."""
        return self._json("GET", f"/runs/{quote(run_id, safe='')}")

    def replay_run(self, run_id: str) -> dict[str, Any]:
        """Start the run again on the workflow's current version: `{"runId", "replayOf"}`."""
        return self._json("POST", f"/runs/{quote(run_id, safe='')}/replay")

    def _json(self, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, route, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise UpstreamError(response.status_code, "invalid_response", "The answer is not a JSON object.")
        return payload

    def _send(
        self, method: str, route: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> requests.Response:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self._secret_key}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        response = self._session.request(
            method,
            f"{self.base_url}/projects/{quote(self.project_id, safe='')}{route}",
            headers=headers,
            params=params,
            data=data,
            timeout=self.timeout,
            allow_redirects=False,
        )
        if response.status_code >= 300:
            raise _admin_error(response)
        return response


def _admin_error(response: requests.Response) -> TetherError:
    """Tether's `{"message", "code"}` answer as an exception; anything else (a gateway's own error
    page, a redirect) as one named after its status."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    # API Gateway's own errors say `message` (or `Message`) without a code.
    message = payload.get("message", payload.get("Message"))
    code = response.headers.get(ERROR_HEADER) or payload.get("code")
    text = str(message) if isinstance(message, str) and message else f"HTTP {response.status_code} {response.reason}"
    code_text = code if isinstance(code, str) and code else f"http_{response.status_code}"
    return _error_class(response.status_code)(response.status_code, code_text, text, payload)


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
