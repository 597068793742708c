"""The suite-wide secret guard works, and unexpected failures become JSON 500s that leak nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import Api, ProjectHandle, SecretWatch
from tests.test_sdk_auth import assert_refused


def test_guard_sees_app_log_lines(api: Api, project: ProjectHandle, secret_watch: SecretWatch) -> None:
    api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token())
    assert any("GET /projects/{project_id}/sdk/me -> 200" in line for line in secret_watch.seen)


def test_guard_detects_a_leak() -> None:
    watch = SecretWatch()
    watch.add("tsk_super_secret_value")
    watch.seen.append("INFO something tsk_super_secret_value happened")
    assert watch.leaks() == ["tsk_super_se..."]


def test_guard_detects_a_pem_leaked_line_by_line() -> None:
    watch = SecretWatch()
    pem = "-----BEGIN PRIVATE KEY-----\n" + "A" * 64 + "\n" + "B" * 64 + "\n-----END PRIVATE KEY-----\n"
    watch.add(pem)
    watch.seen.append("B" * 64)
    assert watch.leaks()


def test_unexpected_error_is_a_json_500_without_its_message(
    api: Api, project: ProjectHandle, monkeypatch: pytest.MonkeyPatch, secret_watch: SecretWatch
) -> None:
    from chalicelib.services import end_users

    leaked = "tsk_" + "L" * 40
    secret_watch.add(leaked)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"database said {leaked}")

    monkeypatch.setattr(end_users, "me_view", explode)
    response = api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token())
    assert_refused(response, status=500, code="internal_error")
    assert any("unhandled RuntimeError" in line for line in secret_watch.seen)


def test_boto_debug_logs_are_silenced(api: Api, project: ProjectHandle, secret_watch: SecretWatch) -> None:
    """botocore logs request parameters (secret values) at DEBUG; the app keeps it at WARNING."""
    secret = "client-secret-" + "q" * 30
    secret_watch.add(secret)
    body = {"clientId": "42", "clientSecret": secret, "scopes": [], "active": True}
    response = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", body=body, headers=project.admin)
    assert response.status == 200
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING
