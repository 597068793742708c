"""Workflows under bad input, faults and attacks: every refusal is a JSON 4xx that changes
nothing; a failing runner loses nothing; no token reaches a state machine."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import Api, ProjectHandle, SecretWatch
from tests.connect_flow import connect
from tests.test_workflows import ARTICLE_WORKFLOW, deploy, event, wait_for_run
from wpcom_sandbox.server import WordPressSandbox


def test_bad_definitions_and_ids_are_json_400s_that_change_nothing(
    engine: None, api: Api, project: ProjectHandle
) -> None:
    base = f"/projects/{project.id}/workflows"
    for workflow_id, body, code in [
        ("bad id!", ARTICLE_WORKFLOW, "invalid_workflow_id"),
        ("x" * 65, ARTICLE_WORKFLOW, "invalid_workflow_id"),
        ("ok", [1, 2], "invalid_json"),
        ("ok", {**ARTICLE_WORKFLOW, "trigger": {"type": "telepathy"}}, "invalid_workflow"),
        ("ok", {**ARTICLE_WORKFLOW, "integration": "slack"}, "invalid_workflow"),
        ("ok", {}, "invalid_workflow"),
    ]:
        response = api.call("PUT", f"{base}/{workflow_id}", body=body, headers=project.admin)
        assert response.status == 400, (workflow_id, response.json)
        assert response.json["code"] == code
    raw = api.call("PUT", f"{base}/ok", raw=b'{"name": NaN}', headers=project.admin)
    assert (raw.status, raw.json["code"]) == (400, "invalid_json")
    assert api.call("GET", base, headers=project.admin).json == {"workflows": []}
    assert api.call("GET", f"{base}/ok", headers=project.admin).status == 404


def test_admin_routes_need_this_projects_secret_key(
    engine: None, api: Api, make_project: Any, sandbox: WordPressSandbox
) -> None:
    mine, other = make_project(), make_project()
    connect(api, mine, sandbox, "alice")
    deploy(api, mine, "post-articles", ARTICLE_WORKFLOW)
    [run_id] = event(api, mine, mine.token("alice"), "article.published", {"title": "t", "body": "b"})
    wait_for_run(api, mine, run_id)
    for method, path in [
        ("GET", f"/projects/{mine.id}/workflows"),
        ("GET", f"/projects/{mine.id}/workflows/post-articles"),
        ("DELETE", f"/projects/{mine.id}/workflows/post-articles"),
        ("GET", f"/projects/{mine.id}/runs"),
        ("GET", f"/projects/{mine.id}/runs/{run_id}"),
        ("POST", f"/projects/{mine.id}/runs/{run_id}/replay"),
    ]:
        for headers in ({}, other.admin, {"Authorization": f"Bearer {mine.token('alice')}"}):
            response = api.call(method, path, headers=headers)
            assert response.status == 401, (method, path, response.json)
    # Another project's own routes do not see this project's runs.
    assert api.call("GET", f"/projects/{other.id}/runs/{run_id}", headers=other.admin).status == 404
    assert api.call("GET", f"/projects/{other.id}/runs", headers=other.admin).json["runs"] == []
    # A user token of another project cannot send events here.
    foreign = api.call(
        "POST",
        f"/projects/{mine.id}/sdk/events/trigger",
        token=other.token("alice"),
        body={"name": "article.published"},
    )
    assert foreign.status == 401


def test_bad_events_and_run_queries_are_400s(engine: None, api: Api, project: ProjectHandle) -> None:
    token = project.token("alice")
    trigger = f"/projects/{project.id}/sdk/events/trigger"
    for body, code in [
        ({}, "invalid_field"),
        ({"name": ""}, "invalid_field"),
        ({"name": "x" * 201}, "invalid_field"),
        ({"name": 5}, "invalid_field"),
        ({"name": "a", "extra": 1}, "unknown_field"),
    ]:
        response = api.call("POST", trigger, token=token, body=body)
        assert (response.status, response.json["code"]) == (400, code), body
    long_key = api.call("POST", trigger, token=token, body={"name": "a"}, headers={"Idempotency-Key": "k" * 256})
    assert (long_key.status, long_key.json["code"]) == (400, "invalid_idempotency_key")
    runs = f"/projects/{project.id}/runs"
    for query, code in [
        ("?status=DONE", "invalid_parameter"),
        ("?limit=0", "invalid_limit"),
        ("?limit=101", "invalid_limit"),
        ("?cursor=%%%", "invalid_cursor"),
        ("?cursor=eyJhIjoxfQ", "invalid_cursor"),
    ]:
        response = api.call("GET", runs + query, headers=project.admin)
        assert (response.status, response.json["code"]) == (400, code), query
    missing = api.call("GET", f"{runs}/nope", headers=project.admin)
    assert (missing.status, missing.json["code"]) == (404, "run_not_found")
    unknown = api.call("POST", f"/projects/{project.id}/sdk/triggers/nope", token=token, body={})
    assert (unknown.status, unknown.json["code"]) == (404, "workflow_not_found")


def test_a_request_workflow_refuses_a_user_who_has_it_off_or_is_not_connected(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    deploy(
        api,
        project,
        "ask",
        {
            "name": "Ask",
            "integration": "wordpress",
            "trigger": {"type": "request"},
            "steps": [{"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"}],
        },
    )
    url = f"/projects/{project.id}/sdk/triggers/ask"
    off = api.call("POST", url, token=project.token("bob"), body={})
    assert (off.status, off.json["code"]) == (403, "workflow_not_enabled")
    connect(api, project, sandbox, "alice")
    alice = project.token("alice")
    assert api.call("POST", f"/projects/{project.id}/sdk/workflows/ask", token=alice).status == 200
    answered = api.call("POST", url, token=alice, body={})
    assert answered.status == 200
    assert answered.json["username"]  # no response step: the last step's output
    not_request = api.call("POST", f"/projects/{project.id}/sdk/triggers/ask", token=alice, body=[1])
    assert not_request.status == 400


def test_an_unexpected_runner_exception_fails_the_run_with_the_error_recorded(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import step_runner

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug in the runner")

    monkeypatch.setattr(step_runner, "_request", explode)
    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    [run_id] = event(api, project, project.token("alice"), "article.published", {"title": "t", "body": "b"})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "FAILED"
    assert run["error"]["error"] == "RuntimeError"
    [step] = run["steps"]
    assert (step["id"], step["status"], step["attempts"]) == ("sites", "FAILED", 1)
    assert step["error"] == {"code": "internal_error", "message": "Unexpected RuntimeError."}


def test_no_token_reaches_an_execution_input_output_or_history(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    token = project.token("alice")
    [run_id] = event(api, project, token, "article.published", {"title": "t", "body": "b"})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED"
    client = boto3.client("stepfunctions")
    described = client.describe_execution(executionArn=run["executionArn"])
    history = client.get_execution_history(executionArn=run["executionArn"], maxResults=1000)
    text = json.dumps(described, default=str) + json.dumps(history, default=str)
    assert "sites" in text  # the history really holds the steps' inputs and outputs
    # The secret guard (teardown) fails the test if any access token the sandbox issued, the
    # user token or a client secret appears here.
    secret_watch.seen.append(text)
    issued = [t.token for t in sandbox.state.issued_tokens()]
    assert issued
    assert not any(value in text for value in [*issued, token])
