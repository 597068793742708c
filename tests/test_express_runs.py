"""A request-triggered run executes on an Express state machine, which DescribeExecution does not
know: a run whose end was never recorded is marked failed once it is older than an Express
execution can live (5 minutes), instead of staying RUNNING for good."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from chalicelib.adapters.state_machines import state_machine_name
from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import deploy
from tests.workflow_examples import slow_request_workflow
from wpcom_sandbox.server import WordPressSandbox


def test_a_request_run_whose_end_was_never_recorded_is_marked_failed_after_the_express_limit(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import get_services, reset_services

    monkeypatch.setenv("TETHER_WORKFLOW_SYNC_TIMEOUT_SECONDS", "1")
    reset_services()
    ahead = [0.0]
    get_services().clock = lambda: time.time() + ahead[0]
    connect(api, project, sandbox, "alice")
    deploy(api, project, "slow", slow_request_workflow(3))
    # The caller stops waiting after a second; the run goes on and has recorded no end yet.
    response = api.call("POST", f"/projects/{project.id}/sdk/triggers/slow", token=project.token("alice"), body={})
    assert (response.status, response.json["code"]) == (504, "workflow_timeout")
    path = f"/projects/{project.id}/runs/{response.json['runId']}"
    assert api.call("GET", path, headers=project.admin).json["status"] == "RUNNING"
    # Within the Express limit (and its grace) it may still end: left alone.
    ahead[0] = 330.0
    assert api.call("GET", path, headers=project.admin).json["status"] == "RUNNING"
    # Past it, the run cannot be running any more.
    ahead[0] = 361.0
    lost = api.call("GET", path, headers=project.admin).json
    assert lost["status"] == "FAILED"
    assert lost["error"]["error"] == "Tether.RunLost"
    assert "at most 5 minutes" in lost["error"]["cause"]
    assert lost["endedAt"]
    # The execution's late end (here it does end) changes nothing: the first outcome stays.
    stepfunctions = boto3.client("stepfunctions")
    name = state_machine_name("test", project.id, "slow", 1)
    [machine] = [m for m in stepfunctions.list_state_machines()["stateMachines"] if m["name"] == name]
    [execution] = stepfunctions.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    waited = threading.Event()
    for _ in range(200):
        if stepfunctions.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING":
            break
        waited.wait(0.05)
    assert stepfunctions.describe_execution(executionArn=execution["executionArn"])["status"] == "SUCCEEDED"
    final = api.call("GET", path, headers=project.admin).json
    assert (final["status"], final["error"]["error"]) == ("FAILED", "Tether.RunLost")
