"""Connect flow edge cases around time and concurrency: session expiry on an injected clock, a
callback for an integration deactivated mid-flow, concurrent callbacks of one user and the
development-keys cap under concurrent connects."""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox


def credentials_in_table() -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    return [item for item in items if str(item["SK"]).startswith("CREDENTIAL#")]


def session(api: Api, attempt: connect_flow.Attempt) -> Any:
    path = f"/projects/{attempt.project.id}/sdk/actions/session-id/{attempt.session_id}"
    return api.call("GET", path, token=attempt.token)


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_session_is_readable_until_it_expires(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    from chalicelib.services.connect import SESSION_TTL_SECONDS
    from chalicelib.wiring import get_services

    clock = FakeClock(float(int(time.time())))
    get_services().clock = clock
    started = clock.now
    attempt = connect_flow.start(api, project, sandbox, "alice", decision="deny")
    connect_flow.callback(api, attempt)
    clock.now = started + SESSION_TTL_SECONDS - 1
    last_second = session(api, attempt)
    assert last_second.status == 200
    assert last_second.json["status"] == "ERROR"
    pseudo = last_second.json["connectCredentialId"]
    credential_path = f"/projects/{project.id}/sdk/credentials/{pseudo}"
    assert api.call("GET", credential_path, token=attempt.token).json["code"] == "oauth_access_denied"
    # DynamoDB's TTL sweep lags: the item is still there, but the session is over.
    clock.now = started + SESSION_TTL_SECONDS
    assert_refused(session(api, attempt), status=404, code="session_not_found")
    assert_refused(api.call("GET", credential_path, token=attempt.token), status=404, code="session_not_found")
    clock.now = started + SESSION_TTL_SECONDS + 3600
    assert_refused(session(api, attempt), status=404, code="session_not_found")


def test_callback_refuses_an_integration_deactivated_after_consent(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    body = {"clientId": None, "clientSecret": None, "scopes": [], "active": False}
    put = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", body=body, headers=project.admin)
    assert put.status == 200
    page = connect_flow.callback(api, attempt)
    assert page.status == 403
    assert b"not active" in page.body
    polled = session(api, attempt).json
    assert polled["status"] == "ERROR"
    assert polled["error"]["code"] == "integration_inactive"
    assert credentials_in_table() == []
    assert sandbox.state.issued_tokens() == []  # the code was never even exchanged


def test_callback_sees_a_deactivation_made_by_another_container(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    from chalicelib.services.integrations import SettingsInput, put_integration_settings
    from chalicelib.wiring import get_services

    attempt = connect_flow.start(api, project, sandbox, "alice")
    services = get_services()
    config = services.project_configs.get(project.id)  # this container's cache says: active
    assert config is not None
    # Another container deactivates it; this container's cache is not told.
    put_integration_settings(
        services.projects,
        services.secrets,
        services.settings.client_secret_id(project.id, "wordpress"),
        config,
        "wordpress",
        SettingsInput(client_id=None, client_secret=None, keep_secret=False, scopes=(), active=False),
    )
    page = connect_flow.callback(api, attempt)
    assert page.status == 403
    assert session(api, attempt).json["error"]["code"] == "integration_inactive"
    assert credentials_in_table() == []
