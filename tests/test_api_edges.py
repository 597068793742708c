"""API rough edges: partial settings updates and every problem at once, known scopes only,
`usesDevelopmentKeys` only when dev keys exist, uninstall by type, `lastSeenAt`, the discovery
routes and the error code in the access log."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_connect_races import FakeClock
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox

REPO_ROOT = Path(__file__).resolve().parent.parent


def settings_path(project: ProjectHandle) -> str:
    return f"/projects/{project.id}/integrations/wordpress"


def settings(api: Api, project: ProjectHandle) -> Any:
    return api.call("GET", settings_path(project), headers=project.admin).json


def test_patch_changes_only_the_named_fields(api: Api, project: ProjectHandle) -> None:
    full = {"clientId": "12345", "clientSecret": "first-secret-value", "scopes": ["posts"], "active": True}
    assert api.call("PUT", settings_path(project), body=full, headers=project.admin).status == 200
    off = api.call("PATCH", settings_path(project), body={"active": False}, headers=project.admin)
    assert off.status == 200, off.body
    assert {k: off.json[k] for k in ("clientId", "clientSecret", "scopes", "active")} == {
        "clientId": "12345",
        "clientSecret": "********",
        "scopes": ["posts"],
        "active": False,
    }
    scoped = api.call("PATCH", settings_path(project), body={"scopes": ["global"]}, headers=project.admin)
    assert scoped.json["scopes"] == ["global"]
    assert scoped.json["active"] is False
    assert scoped.json["clientSecret"] == "********"
    assert settings(api, project) == scoped.json
    # `{}` changes nothing.
    unchanged = api.call("PATCH", settings_path(project), body={}, headers=project.admin)
    assert {k: v for k, v in unchanged.json.items() if k != "updatedAt"} == {
        k: v for k, v in scoped.json.items() if k != "updatedAt"
    }


def test_every_problem_is_named_at_once_and_nothing_changes(api: Api, project: ProjectHandle) -> None:
    before = settings(api, project)
    for method, body, fragments in [
        ("PUT", {"clientId": 5, "scopes": "posts"}, ["clientId", "'scopes' must be a list", "'active' is required"]),
        (
            "PATCH",
            {"scopes": ["posts", "write_posts"], "active": "yes", "extra": 1},
            ["extra", "write_posts", "active"],
        ),
    ]:
        refused = api.call(method, settings_path(project), body=body, headers=project.admin)
        assert_refused(refused, status=400)
        for fragment in fragments:
            assert fragment in refused.json["message"], (method, refused.json)
    assert settings(api, project) == before


@pytest.mark.parametrize("control", ["\n", "\x7f", "\x85"])
def test_client_fields_with_control_characters_are_refused(api: Api, project: ProjectHandle, control: str) -> None:
    body = {"clientId": f"12{control}3", "clientSecret": "s3cret"}
    refused = api.call("PATCH", settings_path(project), body=body, headers=project.admin)
    assert_refused(refused, status=400, code="invalid_field")
    assert settings(api, project)["clientId"] is None


def test_only_known_scopes_are_accepted(api: Api, project: ProjectHandle) -> None:
    refused = api.call("PATCH", settings_path(project), body={"scopes": ["global", "nope"]}, headers=project.admin)
    assert_refused(refused, status=400, code="invalid_field")
    assert "unknown WordPress.com scope(s) 'nope'" in refused.json["message"]
    assert "global" in refused.json["message"].split("valid:")[1]  # the valid ones are listed
    known = ["auth", "global", "posts", "media", "freshly-pressed", "stats"]
    stored = api.call("PATCH", settings_path(project), body={"scopes": known}, headers=project.admin)
    assert stored.status == 200, stored.body
    assert stored.json["scopes"] == known


def test_patch_refuses_a_client_id_without_a_secret(api: Api, project: ProjectHandle) -> None:
    refused = api.call("PATCH", settings_path(project), body={"clientId": "123"}, headers=project.admin)
    assert_refused(refused, status=400, code="missing_field")
    assert settings(api, project)["clientId"] is None


def test_uses_development_keys_only_when_the_deployment_has_them(
    api: Api, project: ProjectHandle, request: pytest.FixtureRequest
) -> None:
    def flags() -> list[bool]:
        token = project.token()
        me = api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json
        listed = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=token).json
        return [
            settings(api, project)["usesDevelopmentKeys"],
            me["integrations"]["wordpress"]["usesDevelopmentKeys"],
            listed[0]["usesDevelopmentKeys"],
        ]

    assert flags() == [False, False, False]  # no dev keys in this deployment (yet)
    request.getfixturevalue("sandbox")  # stores the sandbox's client as the deployment's dev keys
    assert flags() == [True, True, True]


def test_uninstall_accepts_the_integration_type(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    token = project.token("alice")
    deleted = api.call("DELETE", f"/projects/{project.id}/sdk/integrations/wordpress", token=token)
    assert deleted.status == 200, deleted.body
    assert deleted.json == {"deletedCredentialIds": [credential_id]}
    me = api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json
    assert me["integrations"]["wordpress"]["enabled"] is False
    unknown = api.call("DELETE", f"/projects/{project.id}/sdk/integrations/myspace", token=token)
    assert_refused(unknown, status=404, code="integration_not_found")


def test_last_seen_moves_at_most_once_a_minute(api: Api, project: ProjectHandle) -> None:
    from chalicelib.domain.clock import iso_at
    from chalicelib.wiring import get_services

    clock = FakeClock(float(int(time.time())))
    get_services().clock = clock
    started = clock.now

    def seen(at: float) -> str:
        clock.now = at
        assert api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token("carol")).status == 200
        user = api.call("GET", f"/projects/{project.id}/users/carol", headers=project.admin).json
        return str(user["lastSeenAt"])

    assert seen(started) == iso_at(started)
    assert seen(started + 59) == iso_at(started)
    assert seen(started + 61) == iso_at(started + 61)
    assert seen(started + 3600) == iso_at(started + 3600)


def test_root_lists_the_links_and_the_spec_is_served(api: Api, aws_env: None) -> None:
    index = api.call("GET", "/")
    assert index.status == 200
    links = index.json["links"]
    assert links["openapi"].endswith("/openapi.json")
    assert links["sdkUser"].endswith("/projects/{projectId}/sdk/me")
    assert links["oauthCallback"].endswith("/oauth/callback")
    spec = api.call("GET", "/openapi.json")
    assert spec.status == 200
    assert spec.headers["Content-Type"] == "application/json"
    assert spec.json == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    # The copy the Lambda bundle carries (chalice packages chalicelib/) is the same document.
    assert (REPO_ROOT / "chalicelib" / "openapi.json").read_bytes() == (
        REPO_ROOT / "docs" / "openapi.json"
    ).read_bytes()


def test_the_access_log_names_the_error_code(
    api: Api, project: ProjectHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.access")
    api.call("GET", f"/projects/{project.id}/sdk/me", token="garbage")
    api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token())
    lines = [r.getMessage() for r in caplog.records if r.name == "tether.access"]
    assert any(re.search(r"GET /projects/\{project_id\}/sdk/me -> 401 [a-z_]+ \(", line) for line in lines), lines
    assert any(re.search(r"GET /projects/\{project_id\}/sdk/me -> 200 \(", line) for line in lines), lines
