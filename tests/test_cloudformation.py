"""The stack's template, built from `chalice package`: within CloudFormation's limits, lint-clean,
one greedy proxy resource, gateway errors inside the API, observability, a protected table,
and names and ARNs that follow from the stage and the pseudo parameters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib.api.proxy import GREEDY_PATH
from chalicelib.config import stage_names
from tests.packaged import offline_package
from tether import cloudformation
from tether.cli import cli
from tether.cloudformation import (
    S3_TEMPLATE_LIMIT,
    TemplateOptions,
    build_template,
    render,
)
from tether.provision import table_definition

NAMES = stage_names("prod")
FULL = TemplateOptions(
    domain="tether.example.com",
    certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
    alarm_email="ops@example.com",
    tracing=True,
    log_retention_days=90,
)


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    sam_template: dict[str, Any] = json.loads((offline_package() / "sam.json").read_text())
    return sam_template


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def test_template_fits_the_limits_and_has_no_transform(sam: dict[str, Any]) -> None:
    # Over the inline limit, `tether deploy` passes the template through S3 (tests/test_deploy.py).
    for options in (TemplateOptions(), FULL):
        template = build_template(sam, NAMES, options)
        assert len(render(template).encode()) <= S3_TEMPLATE_LIMIT
        assert "Transform" not in template
        assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    # The greedy proxy resource keeps it well under chalice's own (compact).
    ours = len(render(build_template(sam, NAMES, TemplateOptions())).encode())
    assert 2 * ours < len(json.dumps(sam, separators=(",", ":")))


@pytest.mark.parametrize("options", [TemplateOptions(), FULL], ids=["default", "custom-domain-alarms-tracing"])
def test_cfn_lint_finds_nothing(sam: dict[str, Any], options: TemplateOptions, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(render(build_template(sam, NAMES, options)))
    lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(lint), "--regions", "us-east-1", "eu-west-1", "--", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_one_greedy_proxy_resource_and_gateway_errors_inside_the_api(sam: dict[str, Any]) -> None:
    template = build_template(sam, NAMES, TemplateOptions())
    [api] = _of_type(template, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    proxy_paths = [path for path in body["paths"] if "/sdk/proxy/" in path]
    assert proxy_paths == [GREEDY_PATH]
    assert set(body["paths"][GREEDY_PATH]) == {"get", "post", "put", "patch", "delete", "options"}
    # Every other route of the app is there.
    assert {
        p for p in sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"] if "/sdk/proxy/" not in p
    } == {p for p in body["paths"] if p != GREEDY_PATH}
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    throttled = responses["THROTTLED"]
    assert throttled["statusCode"] == "429"
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert "Retry-After" in throttled["responseParameters"]["gatewayresponse.header.Access-Control-Expose-Headers"]
    for response in responses.values():
        text = response["responseTemplates"]["application/json"]
        assert set(json.loads(text)) == {"message", "code"}
        assert "$" not in text  # no request data is echoed
    assert not _of_type(template, "AWS::ApiGateway::GatewayResponse")
    # One stage, the one the URLs name; nothing creates a stray `Stage` stage.
    [stage] = _of_type(template, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "api"
    assert "StageName" not in next(iter(_of_type(template, "AWS::ApiGateway::Deployment").values()))["Properties"]


def test_the_function_knows_its_public_url_from_the_first_deploy(sam: dict[str, Any]) -> None:
    template = build_template(sam, NAMES, TemplateOptions())
    function = template["Resources"]["APIHandler"]["Properties"]
    assert function["FunctionName"] == "tether-prod-api"
    variables = function["Environment"]["Variables"]
    assert variables["TETHER_PUBLIC_URL"] == {
        "Fn::Sub": "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
    }
    assert (variables["TETHER_STAGE"], variables["TETHER_TABLE"], variables["TETHER_SECRET_PREFIX"]) == (
        "prod",
        "tether-prod",
        "tether/prod",
    )
    # The API reaches the function by its name, not by a reference: no dependency cycle.
    integration = template["Resources"]["RestApi"]["Properties"]["Body"]["paths"]["/projects/{project_id}"]["get"]
    uri = integration["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    assert uri.endswith(":function:tether-prod-api/invocations")
    assert "APIHandler" not in json.dumps(template["Resources"]["RestApi"])
    with_domain = build_template(sam, NAMES, FULL)
    assert with_domain["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]["TETHER_PUBLIC_URL"] == (
        "https://tether.example.com"
    )
    mapping = next(iter(_of_type(with_domain, "AWS::ApiGateway::BasePathMapping").values()))["Properties"]
    assert mapping["Stage"] == {"Ref": "ApiStage"}
    domain = next(iter(_of_type(with_domain, "AWS::ApiGateway::DomainName").values()))["Properties"]
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["RegionalCertificateArn"] == FULL.certificate_arn


def test_logs_throttling_tracing_and_alarms(sam: dict[str, Any]) -> None:
    template = build_template(sam, NAMES, FULL)
    groups = {
        g["Properties"]["LogGroupName"]: g["Properties"] for g in _of_type(template, "AWS::Logs::LogGroup").values()
    }
    functions = [r["Properties"]["FunctionName"] for r in _of_type(template, "AWS::Lambda::Function").values()]
    assert {"tether-prod-api", "tether-prod-step_runner"} <= set(functions)
    assert set(groups) == {f"/aws/lambda/{name}" for name in functions} | {"/aws/apigateway/tether-prod/access"}
    assert {group["RetentionInDays"] for group in groups.values()} == {90}
    assert template["Resources"]["APIHandler"]["DependsOn"] == ["APIHandlerLogGroup"]
    stage = template["Resources"]["ApiStage"]["Properties"]
    destination = stage["AccessLogSetting"]["DestinationArn"]["Fn::Sub"]
    assert destination.endswith(":${AWS::AccountId}:log-group:/aws/apigateway/tether-prod/access")
    access_format = stage["AccessLogSetting"]["Format"]
    assert "$context.resourcePath" in access_format
    assert not re.search(r"querystring|\$context\.path|authorization|header", access_format, re.IGNORECASE)
    [settings] = stage["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50.0, 100)
    assert settings["MetricsEnabled"] is False  # per-method metrics are billed as custom metrics
    assert stage["TracingEnabled"] is True
    assert template["Resources"]["APIHandler"]["Properties"]["TracingConfig"] == {"Mode": "Active"}
    alarms = {
        a["Properties"]["Namespace"] + "/" + a["Properties"]["MetricName"]
        for a in _of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms == {
        "AWS/ApiGateway/5XXError",
        "AWS/Lambda/Errors",
        "AWS/Lambda/Throttles",
        "AWS/DynamoDB/ReadThrottleEvents",
        "AWS/DynamoDB/WriteThrottleEvents",
        "Tether/WorkflowRunsFailed",
    }
    for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": "ops@example.com"}]
    quiet = build_template(sam, NAMES, TemplateOptions())
    assert "AlarmTopic" not in quiet["Resources"]
    assert quiet["Resources"]["ApiStage"]["Properties"]["TracingEnabled"] is False


def test_table_is_protected_and_matches_what_the_local_stack_creates(sam: dict[str, Any]) -> None:
    table = build_template(sam, NAMES, TemplateOptions())["Resources"]["TetherTable"]
    definition = table_definition("tether-prod")
    properties = table["Properties"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    for key in ("TableName", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == definition[key]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True


def test_every_arn_comes_from_the_pseudo_parameters(sam: dict[str, Any]) -> None:
    text = render(build_template(sam, NAMES, FULL))
    for found in re.findall(r'"(arn:[^"]*)"', text):
        if found.startswith("arn:aws:acm:"):
            continue  # the operator's certificate, given as is
        fields = found.replace("${AWS::Partition}", "P").replace("${AWS::Region}", "R")
        fields = fields.replace("${AWS::AccountId}", "A").split(":")
        assert fields[1] == "P", found
        assert fields[3] in ("R", ""), found  # IAM and S3 ARNs have no region
        if fields[2] == "s3":  # no account either: the bucket's name carries it
            assert "-A-R/" in fields[5], found
        elif fields[2] != "apigateway":  # an integration URI: arn:P:apigateway:R:lambda:path/...
            assert fields[4] == "A", found


def test_a_function_without_a_policy_is_refused(sam: dict[str, Any]) -> None:
    extra = json.loads(json.dumps(sam))
    extra["Resources"]["Mystery"] = {**sam["Resources"]["APIHandler"]}
    with pytest.raises(ValueError, match="No IAM policy for the function Mystery"):
        build_template(extra, NAMES, TemplateOptions())
    assert "APIHandler" in cloudformation.FUNCTION_POLICIES


def test_cli_prints_the_template_and_the_policy() -> None:
    package = str(offline_package())
    printed = CliRunner().invoke(cli, ["cloudformation", "--stage", "staging", "--package", package])
    assert printed.exit_code == 0, printed.output
    template = json.loads(printed.stdout)
    assert template["Resources"]["TetherTable"]["Properties"]["TableName"] == "tether-staging"
    assert set(template["Parameters"]) == {"CodeBucket", "CodeKey"}
    policy = CliRunner().invoke(cli, ["cloudformation", "--stage", "staging", "--policy"])
    assert policy.exit_code == 0, policy.output
    assert json.loads(policy.stdout) == cloudformation.runtime_policy(stage_names("staging"))
    assert json.loads(
        json.dumps(template["Resources"]["APIHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"])
    ) == (cloudformation._sub(cloudformation.runtime_policy(stage_names("staging"))))
    bad = CliRunner().invoke(cli, ["cloudformation", "--stage", "No_Such", "--package", package])
    assert bad.exit_code == 1
    assert "Bad stage name" in bad.output
    no_cert = CliRunner().invoke(
        cli, ["cloudformation", "--stage", "x", "--domain", "a.example.com", "--package", package]
    )
    assert no_cert.exit_code == 2
    assert "--certificate-arn" in no_cert.output


def test_arm64_packages_and_deploys_for_arm64() -> None:
    sam = json.loads((offline_package("arm64") / "sam.json").read_text())
    assert sam["Resources"]["APIHandler"]["Properties"]["Architectures"] == ["arm64"]
    template = build_template(sam, NAMES, TemplateOptions())
    assert template["Resources"]["APIHandler"]["Properties"]["Architectures"] == ["arm64"]
    x86 = build_template(json.loads((offline_package() / "sam.json").read_text()), NAMES, TemplateOptions())
    assert x86["Resources"]["APIHandler"]["Properties"]["Architectures"] == ["x86_64"]


def test_the_scheduler_role_may_only_invoke_the_dispatcher_and_the_functions_know_its_arn(sam: dict[str, Any]) -> None:
    resources = build_template(sam, NAMES, TemplateOptions())["Resources"]
    role = resources["SchedulerRole"]["Properties"]
    assert role["RoleName"] == "tether-prod-scheduler"
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"]["Fn::Sub"].endswith(":function:tether-prod-schedule_dispatcher")
    assert resources["ScheduleDispatcher"]["Properties"]["FunctionName"] == "tether-prod-schedule_dispatcher"
    assert resources["ScheduleDispatcher"]["Properties"]["Timeout"] == 300
    for function in ("APIHandler", "ScheduleDispatcher", "StepRunner"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert "tether-prod-schedule_dispatcher" in variables["TETHER_SCHEDULE_DISPATCHER_ARN"]["Fn::Sub"]
        assert variables["TETHER_SCHEDULER_ROLE_ARN"]["Fn::Sub"].endswith(":role/tether-prod-scheduler")
    # No cycle: nothing refers to a function or a role resource by GetAtt.
    assert "GetAtt" not in json.dumps(resources["ScheduleDispatcher"]["Properties"]["Environment"])


def test_failed_workflow_runs_alarm_through_a_metric_the_functions_log(sam: dict[str, Any]) -> None:
    """State machines are created at run time: the alarm watches the stage's own metric, which
    the step runner logs for every Standard execution EventBridge reports as ended badly."""
    for options, actions in ((TemplateOptions(), None), (FULL, [{"Ref": "AlarmTopic"}])):
        resources = build_template(sam, NAMES, options)["Resources"]
        alarm = resources["WorkflowRunsFailedAlarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("Tether", "WorkflowRunsFailed")
        assert alarm["Dimensions"] == [{"Name": "Stage", "Value": "prod"}]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
        assert alarm.get("AlarmActions") == actions
        rule = resources["FailedExecutionsRule"]["Properties"]
        assert rule["Name"] == "tether-prod-executions-failed"
        pattern = rule["EventPattern"]
        assert pattern["source"] == ["aws.states"]
        assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
        assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
        [prefix] = pattern["detail"]["stateMachineArn"]
        assert prefix == {
            "prefix": {
                "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:tether-prod-"
            }
        }
        [target] = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["StepRunner", "Arn"]}
        assert resources["StepRunner"]["Properties"]["FunctionName"] == "tether-prod-step_runner"
        permission = resources["FailedExecutionsPermission"]["Properties"]
        assert permission["FunctionName"] == {"Ref": "StepRunner"}
        assert permission["Principal"] == "events.amazonaws.com"
        assert permission["SourceArn"] == {"Fn::GetAtt": ["FailedExecutionsRule", "Arn"]}
