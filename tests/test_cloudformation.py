"""The CloudFormation resources merged into `chalice package`: table and JSON gateway errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tether.cli import cli
from tether.cloudformation import merge_template
from tether.provision import table_definition


def test_table_matches_what_the_cli_provisions() -> None:
    table = merge_template("tether-prod")["Resources"]["TetherTable"]
    definition = table_definition("tether-prod")
    properties = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    for key in ("TableName", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == definition[key]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_gateway_errors_are_tether_shaped_and_echo_nothing() -> None:
    resources = merge_template("t")["Resources"]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if "ResponseType" in r.get("Properties", {})
    }
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    for properties in responses.values():
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert set(body) == {"message", "code"}
        assert "$" not in properties["ResponseTemplates"]["application/json"]  # no request data is echoed
        assert properties["RestApiId"] == {"Ref": "RestAPI"}


def test_cli_reads_the_stage_table_name() -> None:
    result = CliRunner().invoke(cli, ["cloudformation", "--stage", "dev"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["Resources"]["TetherTable"]["Properties"]["TableName"] == "tether-dev"
    unknown = CliRunner().invoke(cli, ["cloudformation", "--stage", "nope"])
    assert unknown.exit_code != 0
    assert "No stage" in unknown.output


def test_the_scheduler_role_may_only_invoke_the_dispatcher_and_the_functions_know_its_arn() -> None:
    resources = merge_template("tether-prod")["Resources"]
    role = resources["TetherSchedulerRole"]["Properties"]
    assert role["RoleName"] == "tether-prod-scheduler"
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": ["ScheduleDispatcher", "Arn"]},
        }
    ]
    for function in ("APIHandler", "ScheduleDispatcher"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert "tether-prod-schedule_dispatcher" in variables["TETHER_SCHEDULE_DISPATCHER_ARN"]["Fn::Sub"]
        assert variables["TETHER_SCHEDULER_ROLE_ARN"]["Fn::Sub"].endswith(":role/tether-prod-scheduler")
    # No cycle: the dispatcher's environment names the role without referring to the resource.
    assert "GetAtt" not in json.dumps(resources["ScheduleDispatcher"])
