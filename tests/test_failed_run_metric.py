"""Failed workflow runs are counted once each, as Embedded Metric Format lines on stdout (the
stack's `WorkflowRunsFailed` alarm watches that metric): Express runs by the API that ran them,
Standard executions by the step runner when EventBridge reports them ended badly."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import ARTICLE_WORKFLOW, deploy, event, wait_for_run
from wpcom_sandbox.server import WordPressSandbox

MISSING = {"id": "missing", "type": "request", "method": "GET", "path": "v1.1/sites/999999999/posts/1"}


def metric_lines(out: str) -> list[dict[str, Any]]:
    """The EMF documents among stdout's lines."""
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def assert_counts_one_failed_run(document: dict[str, Any]) -> None:
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "Tether",
        "Dimensions": [["Stage"]],
        "Metrics": [{"Name": "WorkflowRunsFailed", "Unit": "Count"}],
    }
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert (document["Stage"], document["WorkflowRunsFailed"]) == ("test", 1)


def test_a_failed_request_run_is_counted_by_the_api(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(
        api,
        project,
        "ok",
        {**ARTICLE_WORKFLOW, "trigger": {"type": "request"}, "steps": [ARTICLE_WORKFLOW["steps"][0]]},
    )
    deploy(api, project, "broken", {**ARTICLE_WORKFLOW, "trigger": {"type": "request"}, "steps": [MISSING]})
    capsys.readouterr()
    fine = api.call("POST", f"/projects/{project.id}/sdk/triggers/ok", token=project.token("alice"), body={})
    assert fine.status == 200, fine.json
    assert metric_lines(capsys.readouterr().out) == []
    failed = api.call("POST", f"/projects/{project.id}/sdk/triggers/broken", token=project.token("alice"), body={})
    assert (failed.status, failed.json["code"]) == (502, "workflow_failed")
    [document] = metric_lines(capsys.readouterr().out)
    assert_counts_one_failed_run(document)
    assert (document["status"], document["error"], document["workflowId"]) == ("FAILED", "TetherStepFailed", "broken")
    assert (document["projectId"], document["runId"]) == (project.id, failed.json["runId"])


def _eventbridge_event(execution_arn: str) -> dict[str, Any]:
    """What EventBridge delivers for an execution's status change (AWS's documented shape)."""
    described = boto3.client("stepfunctions").describe_execution(executionArn=execution_arn)
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-12-03T20:00:00Z",
        "region": "us-east-1",
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": 1551225146847,
            "stopDate": 1551225151881,
            "input": "{}",
            "output": None,
            "error": described.get("error"),
            "cause": described.get("cause"),
        },
    }


def test_a_failed_standard_execution_is_counted_once_when_eventbridge_reports_it(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import step_runner

    connect(api, project, sandbox, "alice")
    definition = copy.deepcopy(ARTICLE_WORKFLOW)
    definition["steps"] = [MISSING]
    deploy(api, project, "missing", definition)
    capsys.readouterr()
    [run_id] = event(api, project, project.token("alice"), "article.published", {})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "FAILED"
    # The run's own failure path counts nothing: EventBridge's report is the one count.
    assert metric_lines(capsys.readouterr().out) == []
    failed = _eventbridge_event(run["executionArn"])
    assert failed["detail"]["status"] == "FAILED"
    assert step_runner(failed, None) == {"counted": run["executionArn"]}
    [document] = metric_lines(capsys.readouterr().out)
    assert_counts_one_failed_run(document)
    assert (document["status"], document["error"], document["runId"]) == ("FAILED", "TetherStepFailed", run_id)
    assert document["executionArn"] == run["executionArn"]
    # A timeout or an abort never reaches the run's failure path; EventBridge reports it all the same.
    timed_out = copy.deepcopy(failed)
    timed_out["detail"].update(status="TIMED_OUT", error=None, cause=None)
    step_runner(timed_out, None)
    [document] = metric_lines(capsys.readouterr().out)
    assert (document["status"], document["error"]) == ("TIMED_OUT", "States.TIMED_OUT")
    # Not counted: a success, and another stage's state machine.
    succeeded = copy.deepcopy(failed)
    succeeded["detail"]["status"] = "SUCCEEDED"
    other_stage = copy.deepcopy(failed)
    other_stage["detail"]["stateMachineArn"] = failed["detail"]["stateMachineArn"].replace(
        ":stateMachine:tether-test-", ":stateMachine:tether-prod-"
    )
    for ignored in (succeeded, other_stage):
        assert step_runner(ignored, None) == {"ignored": True}
    assert metric_lines(capsys.readouterr().out) == []
