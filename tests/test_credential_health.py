"""Credential health: only an explicit rejection of the token marks a credential INVALID, and a
verdict on an older token never lands on a credential reconnected meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox

TOKEN_INFO = "/oauth2/token-info"


def check(api: Api, project: ProjectHandle, credential_id: str, user: str = "alice") -> Any:
    return api.call("POST", f"/projects/{project.id}/sdk/credentials/{credential_id}/check", token=project.token(user))


def status_of(api: Api, project: ProjectHandle, credential_id: str, user: str = "alice") -> str:
    response = api.call("GET", f"/projects/{project.id}/sdk/credentials/{credential_id}", token=project.token(user))
    assert response.status == 200, response.body
    status: str = response.json["status"]
    return status


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (429, {"error": "rate_limited"}, "application/json"),
        (404, "<html>Not Found</html>", "text/html"),
        (408, "", "text/plain"),
        (500, {"error": "server_error"}, "application/json"),
        (502, "<html>Bad gateway</html>", "text/html"),
        (503, "", "text/plain"),
        (400, {"error": "invalid_client", "error_description": "Unknown client_id."}, "application/json"),
        (400, "Bad request", "text/plain"),
        (401, {"message": "no"}, "application/json"),
        (403, {"error": "invalid_token"}, "application/json"),
        (400, {"error": ["invalid_request"]}, "application/json"),
        (400, '{"error": "invalid_request", "n": NaN}', "application/json"),
    ],
)
def test_an_unclear_answer_from_token_info_changes_nothing(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, status: int, body: Any, content_type: str
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    sandbox.state.fail_next(TOKEN_INFO, status, body, content_type=content_type)
    checked = check(api, project, credential_id)
    assert checked.status == 200, checked.body
    assert checked.json["status"] == "VALID"
    assert checked.json["checkResult"] == "unknown"
    assert status_of(api, project, credential_id) == "VALID"
    assert [r.path for r in sandbox.state.recorded_requests(TOKEN_INFO)], "token-info was not asked"


def test_an_unreachable_token_info_changes_nothing(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    monkeypatch.setenv("TETHER_WPCOM_ORIGIN", "http://127.0.0.1:9")  # nothing listens there
    reset_services()
    checked = check(api, project, credential_id)
    assert checked.status == 200, checked.body
    assert (checked.json["status"], checked.json["checkResult"]) == ("VALID", "unknown")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_request", "error_description": "The specified token is invalid."}),
        (401, {"error": "invalid_token"}),
        (400, {"error": "invalid_token"}),
    ],
)
def test_an_explicit_rejection_marks_the_credential_invalid(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, status: int, body: dict[str, str]
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    sandbox.state.fail_next(TOKEN_INFO, status, body)
    checked = check(api, project, credential_id)
    assert (checked.json["status"], checked.json["checkResult"]) == ("INVALID", "invalid")
    assert status_of(api, project, credential_id) == "INVALID"


def test_a_verdict_that_changes_the_status_moves_date_updated(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    path = f"/projects/{project.id}/sdk/credentials/{credential_id}"
    connected = api.call("GET", path, token=project.token("alice")).json["dateUpdated"]
    sandbox.state.fail_next(TOKEN_INFO, 401, {"error": "invalid_token"})
    checked = check(api, project, credential_id)
    assert checked.json["status"] == "INVALID"
    stored = api.call("GET", path, token=project.token("alice")).json
    # Stored with the verdict, not only answered: a later read shows the check's time.
    assert (stored["status"], stored["dateUpdated"]) == ("INVALID", checked.json["dateUpdated"])
    assert stored["dateUpdated"] > connected
    assert stored["dateCreated"] == checked.json["dateCreated"] <= connected


def test_a_healthy_token_is_valid(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    checked = check(api, project, credential_id)
    assert (checked.json["status"], checked.json["checkResult"]) == ("VALID", "valid")


def _reconnect_during(api: Api, project: ProjectHandle, sandbox: WordPressSandbox, credential_id: str) -> None:
    """Alice reconnects the same account (a new token on the same credential)."""
    assert connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker") == credential_id


def test_a_check_of_the_old_token_does_not_invalidate_a_reconnected_credential(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import credentials as credential_service

    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    [old] = sandbox.state.issued_tokens()
    real = credential_service.token_is_active

    def reconnect_then_ask(*args: Any, **kwargs: Any) -> Any:
        # The check read the credential (old token); the user reconnects before token-info answers.
        sandbox.state.revoke_token(old.token)
        _reconnect_during(api, project, sandbox, credential_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(credential_service, "token_is_active", reconnect_then_ask)
    checked = check(api, project, credential_id)
    assert checked.status == 200, checked.body
    monkeypatch.undo()
    assert status_of(api, project, credential_id) == "VALID"
    assert checked.json["status"] == "VALID"
    assert checked.json["checkResult"] == "unknown"
    # The new token works through the proxy.
    proxied = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    assert proxied.status == 200, proxied.body


def test_a_proxy_rejection_of_the_old_token_does_not_invalidate_a_reconnected_credential(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import proxy as proxy_service

    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    [old] = sandbox.state.issued_tokens()
    sandbox.state.revoke_token(old.token)
    real = proxy_service.send

    def send_then_reconnect(*args: Any, **kwargs: Any) -> Any:
        response = real(*args, **kwargs)  # the provider refuses the old token...
        _reconnect_during(api, project, sandbox, credential_id)  # ...while the user reconnects
        return response

    monkeypatch.setattr(proxy_service, "send", send_then_reconnect)
    refused = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    monkeypatch.undo()
    assert_refused(refused, status=422, code="integration_reconnect_required")
    assert status_of(api, project, credential_id) == "VALID"
    proxied = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    assert proxied.status == 200, proxied.body


def test_a_rejection_of_the_current_token_still_marks_it_invalid_through_the_proxy(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    [issued] = sandbox.state.issued_tokens()
    sandbox.state.revoke_token(issued.token)
    refused = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    assert_refused(refused, status=422, code="integration_reconnect_required")
    assert status_of(api, project, credential_id) == "INVALID"


def test_an_odd_error_field_from_the_api_is_passed_through_not_a_500(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    for body in ({"error": ["invalid_token"]}, {"error": {"a": 1}}):
        sandbox.state.fail_next("/rest/v1.1/me", 401, body)
        response = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
        assert response.status == 401, response.body
        assert "X-Tether-Error" not in response.headers
    assert status_of(api, project, credential_id) == "VALID"
