"""Workflows end to end through the HTTP routes: admin definitions and versions, app events,
request triggers, per-user enablement, the step runner on moto's Step Functions interpreter
(with the runner's Lambda invoked in-process), task history and replay."""

from __future__ import annotations

import copy
import threading
from typing import Any

from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.workflow_examples import PINNED_WORKFLOW
from wpcom_sandbox.server import WordPressSandbox

# The pinned example, on for every user who has not chosen.
ARTICLE_WORKFLOW: dict[str, Any] = {**PINNED_WORKFLOW, "defaultEnabled": True}


def deploy(api: Api, project: ProjectHandle, workflow_id: str, definition: dict[str, Any]) -> dict[str, Any]:
    response = api.call(
        "PUT", f"/projects/{project.id}/workflows/{workflow_id}", body=definition, headers=project.admin
    )
    assert response.status == 200, response.json
    body: dict[str, Any] = response.json
    return body


def wait_for_run(api: Api, project: ProjectHandle, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the runs API until the run has ended."""
    done = threading.Event()
    waited = 0.0
    while True:
        response = api.call("GET", f"/projects/{project.id}/runs/{run_id}", headers=project.admin)
        assert response.status == 200, response.json
        run: dict[str, Any] = response.json
        if run["status"] != "RUNNING":
            return run
        assert waited < timeout, run
        done.wait(0.05)
        waited += 0.05


def event(api: Api, project: ProjectHandle, token: str, name: str, payload: Any, **headers: str) -> list[str]:
    response = api.call(
        "POST",
        f"/v2/projects/{project.id}/sdk/events/trigger",
        token=token,
        body={"name": name, "payload": payload},
        headers=headers,
    )
    assert response.status == 201, response.json
    run_ids: list[str] = response.json["runIds"]
    return run_ids


def test_an_app_event_runs_the_pinned_two_step_workflow(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deployed = deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    assert deployed["version"] == 1
    token = project.token("alice")
    [run_id] = event(api, project, token, "article.published", {"title": "Hello from Tether", "body": "It works."})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED", run
    assert run["version"] == 1
    assert run["userId"] == "alice"
    assert run["trigger"] == {
        "type": "app_event",
        "event": "article.published",
        "payload": {"title": "Hello from Tether", "body": "It works."},
    }
    sites, post = run["steps"]
    assert (sites["id"], sites["status"], sites["attempts"], sites["httpStatus"]) == ("sites", "SUCCEEDED", 1, 200)
    site_id = sites["output"]["sites"][0]["ID"]
    assert post["input"]["path"] == f"v1.1/sites/{site_id}/posts/new"
    assert post["input"]["body"] == {"title": "Hello from Tether", "content": "It works."}
    assert post["status"] == "SUCCEEDED"
    created = post["output"]
    assert created["title"] == "Hello from Tether"
    # The post exists in the sandbox.
    stored = sandbox.state.content.post(site_id, created["ID"])
    assert stored is not None
    assert stored.title == "Hello from Tether"
    assert run["executionArn"].startswith("arn:aws:states:")


def test_upstream_500_500_200_retries_and_succeeds_with_three_attempts(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    definition = copy.deepcopy(ARTICLE_WORKFLOW)
    definition["steps"] = [{"id": "sites", "type": "request", "method": "GET", "path": "v1.1/me/sites"}]
    deploy(api, project, "sites", definition)
    sandbox.state.fail_next("/rest/v1.1/me/sites", 500, {"error": "oops"}, count=2)
    [run_id] = event(api, project, project.token("alice"), "article.published", {})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED", run
    [step] = run["steps"]
    assert (step["status"], step["attempts"], step["httpStatus"]) == ("SUCCEEDED", 3, 200)


def test_an_upstream_404_fails_the_run_at_once_with_the_providers_error(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    definition = copy.deepcopy(ARTICLE_WORKFLOW)
    definition["steps"] = [
        {"id": "missing", "type": "request", "method": "GET", "path": "v1.1/sites/999999999/posts/1"},
        {"id": "never", "type": "request", "method": "GET", "path": "v1.1/me"},
    ]
    deploy(api, project, "missing", definition)
    [run_id] = event(api, project, project.token("alice"), "article.published", {})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "FAILED"
    assert run["error"]["error"] == "TetherStepFailed"
    assert "404" in run["error"]["cause"]
    [step] = run["steps"]  # the second step never ran
    assert (step["id"], step["status"], step["attempts"], step["httpStatus"]) == ("missing", "FAILED", 1, 404)
    assert step["output"]["error"] == "unknown_blog"


def test_a_disabled_workflow_does_not_run_and_another_users_event_never_runs_for_this_user(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    connect(api, project, sandbox, "bob")
    deploy(api, project, "post-articles", {**ARTICLE_WORKFLOW, "defaultEnabled": False})
    alice, bob = project.token("alice"), project.token("bob")
    assert event(api, project, alice, "article.published", {"title": "x"}) == []
    enabled = api.call("POST", f"/projects/{project.id}/sdk/workflows/post-articles", token=alice)
    assert enabled.status == 200
    assert enabled.json["enabled"] is True
    [run_id] = event(api, project, alice, "article.published", {"title": "a", "body": "b"})
    assert wait_for_run(api, project, run_id)["userId"] == "alice"
    # Bob never enabled it: his event starts nothing, and nothing runs for Alice either.
    assert event(api, project, bob, "article.published", {"title": "b"}) == []
    runs = api.call("GET", f"/projects/{project.id}/runs", headers=project.admin).json["runs"]
    assert [r["userId"] for r in runs] == ["alice"]
    disabled = api.call("DELETE", f"/projects/{project.id}/sdk/workflows/post-articles", token=alice)
    assert disabled.status == 200
    assert disabled.json["enabled"] is False
    assert event(api, project, alice, "article.published", {"title": "c"}) == []


def test_an_unconnected_user_gets_no_run(engine: None, api: Api, project: ProjectHandle) -> None:
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    assert event(api, project, project.token("carol"), "article.published", {}) == []
    refused = api.call("POST", f"/projects/{project.id}/sdk/workflows/post-articles", token=project.token("carol"))
    assert refused.status == 422
    assert refused.json["code"] == "integration_not_connected"


def test_an_idempotency_key_starts_each_workflow_once(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    token = project.token("alice")
    first = event(api, project, token, "article.published", {"title": "once"}, **{"Idempotency-Key": "k-1"})
    again = event(api, project, token, "article.published", {"title": "once"}, **{"Idempotency-Key": "k-1"})
    assert first == again
    assert len(first) == 1
    other = event(api, project, token, "article.published", {"title": "twice"}, **{"Idempotency-Key": "k-2"})
    assert other != first
    for run_id in first + other:
        wait_for_run(api, project, run_id)
    listed = api.call("GET", f"/projects/{project.id}/runs", headers=project.admin).json["runs"]
    assert len(listed) == 2


def test_a_request_workflow_answers_its_response_step(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(
        api,
        project,
        "site-count",
        {
            "name": "How many sites",
            "integration": "wordpress",
            "defaultEnabled": True,
            "trigger": {"type": "request"},
            "steps": [
                {"id": "sites", "type": "request", "method": "GET", "path": "v1.1/me/sites"},
                {
                    "id": "answer",
                    "type": "response",
                    "status": 201,
                    "body": {"count": "{{ length(steps.sites.output.sites) }}", "echo": "{{ trigger.body.note }}"},
                },
            ],
        },
    )
    response = api.call(
        "POST",
        f"/projects/{project.id}/sdk/triggers/site-count",
        token=project.token("alice"),
        body={"note": "hi"},
        headers={"X-Api-Key": "k-secret", "Cookie": "s=secret", "Sec-Fetch-Mode": "cors", "X-Kind": "count"},
    )
    assert response.status == 201, response.json
    assert response.json["echo"] == "hi"
    assert isinstance(response.json["count"], int)
    assert response.json["count"] >= 1
    run_id = {k.lower(): v for k, v in response.headers.items()}["x-tether-run-id"]
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["executionArn"].startswith("arn:aws:states:"), run
    # The run sees the caller's own headers, never its credentials (the user token included).
    seen = run["trigger"]["headers"]
    assert seen["x-kind"] == "count"
    assert not {"authorization", "x-api-key", "cookie", "sec-fetch-mode"} & set(seen), seen


def test_five_problems_in_one_400_and_the_previous_version_still_runs(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    broken = {
        "name": "Broken",
        "integration": "wordpress",
        "trigger": {"type": "app_event", "event": "article.published"},
        "steps": [
            {"id": "a", "type": "teleport"},
            {"id": "b", "type": "request", "method": "GET", "path": "v1.1/{{ steps.later.output.x }}"},
            {"id": "b", "type": "request", "method": "GET", "path": "v1.1/me", "colour": "red"},
            {"id": "c", "type": "request", "method": "GET", "path": "v1.1/{{ steps.a.output[ }}"},
            {"id": "d", "type": "response", "status": 200, "body": {}},
            {"id": "later", "type": "request", "method": "GET", "path": "v1.1/me"},
        ],
    }
    response = api.call("PUT", f"/projects/{project.id}/workflows/post-articles", body=broken, headers=project.admin)
    assert response.status == 400
    assert response.json["code"] == "invalid_workflow"
    problems = response.json["problems"]
    paths = sorted(problem["path"] for problem in problems)
    assert paths == [
        "$.steps[0].type",
        "$.steps[1].path",
        "$.steps[2].colour",
        "$.steps[2].id",
        "$.steps[3].path",
        "$.steps[4].type",
    ], problems
    current = api.call("GET", f"/projects/{project.id}/workflows/post-articles", headers=project.admin).json
    assert current["version"] == 1
    assert current["name"] == "Post new articles"
    [run_id] = event(api, project, project.token("alice"), "article.published", {"title": "t", "body": "b"})
    assert wait_for_run(api, project, run_id)["status"] == "SUCCEEDED"


def test_replay_starts_a_new_run_with_the_same_trigger_input(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    [run_id] = event(api, project, project.token("alice"), "article.published", {"title": "again", "body": "b"})
    original = wait_for_run(api, project, run_id)
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)  # version 2
    replayed = api.call("POST", f"/projects/{project.id}/runs/{run_id}/replay", headers=project.admin)
    assert replayed.status == 201
    assert replayed.json["replayOf"] == run_id
    assert replayed.json["runId"] != run_id
    new = wait_for_run(api, project, replayed.json["runId"])
    assert new["replayOf"] == run_id
    assert new["trigger"] == original["trigger"]
    assert new["version"] == 2
    assert original["version"] == 1
    assert new["status"] == "SUCCEEDED"


def test_an_integration_enabled_workflow_runs_once_when_the_user_connects(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    deploy(
        api,
        project,
        "welcome",
        {
            "name": "Welcome",
            "integration": "wordpress",
            "defaultEnabled": True,
            "trigger": {"type": "integration_enabled"},
            "steps": [{"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"}],
        },
    )
    credential_id = connect(api, project, sandbox, "alice")
    [run] = api.call("GET", f"/projects/{project.id}/runs?workflowId=welcome", headers=project.admin).json["runs"]
    finished = wait_for_run(api, project, run["id"])
    assert finished["status"] == "SUCCEEDED"
    assert finished["trigger"] == {"type": "integration_enabled", "credentialId": credential_id}
    assert finished["steps"][0]["output"]["username"]
    # Connecting the same account again is not a first connect: no second run.
    connect(api, project, sandbox, "alice")
    assert len(api.call("GET", f"/projects/{project.id}/runs", headers=project.admin).json["runs"]) == 1


def test_a_run_that_ends_while_it_is_read_is_returned_with_all_its_steps(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: Any
) -> None:
    """GET /runs/{id} reads the steps, then asks Step Functions about a RUNNING run; if the run
    ends in between, the answer carries the steps recorded meanwhile, not the first read's."""
    from chalicelib.adapters.state_machines import StateMachines

    connect(api, project, sandbox, "alice")
    deploy(api, project, "post-articles", ARTICLE_WORKFLOW)
    # The second step's upstream call waits until the run is being read.
    reading = threading.Event()
    record = sandbox.state.record

    def held_record(method: str, path: str, *args: Any) -> None:
        if path.endswith("/posts/new"):
            reading.wait(20)
        record(method, path, *args)

    monkeypatch.setattr(sandbox.state, "record", held_record)
    describe = StateMachines.describe_execution
    described: list[str] = []

    def describe_after_the_end(self: StateMachines, execution_arn: str) -> dict[str, Any]:
        reading.set()
        while True:
            answer = describe(self, execution_arn)
            if answer["status"] != "RUNNING":
                described.append(answer["status"])
                return answer
            threading.Event().wait(0.05)

    monkeypatch.setattr(StateMachines, "describe_execution", describe_after_the_end)
    [run_id] = event(api, project, project.token("alice"), "article.published", {"title": "T", "body": "B"})
    response = api.call("GET", f"/projects/{project.id}/runs/{run_id}", headers=project.admin)
    assert response.status == 200, response.json
    run = response.json
    assert described == ["SUCCEEDED"]
    assert run["status"] == "SUCCEEDED", run
    assert [(step["id"], step["status"]) for step in run["steps"]] == [("sites", "SUCCEEDED"), ("post", "SUCCEEDED")]
    assert run["steps"][1]["output"]["title"] == "T"
