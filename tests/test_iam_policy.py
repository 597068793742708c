"""The Lambda role's IAM policy: least privilege on secrets, checked statement by statement."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib.config import stage_names
from tether.cli import cli
from tether.cloudformation import runtime_policy

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: `*` any run of characters, `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        if not any(_matches(p, action, ignore_case=True) for p in _listed(statement["Action"])):
            return False
    elif any(_matches(p, action, ignore_case=True) for p in _listed(statement["NotAction"])):
        return False
    if not any(_matches(p, resource) for p in _listed(statement["Resource"])):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        assert operator in ("Bool", "StringEquals"), f"this checker understands Bool and StringEquals, not {operator}"
        for key, expected in tests.items():
            if context.get(key) not in _listed(expected):
                return False
    return True


def allowed(policy: dict[str, Any], action: str, resource: str, **context: str) -> bool:
    """IAM's evaluation for one identity policy: an explicit Deny wins, else any Allow, else no."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _applies(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, action, resource, context) for s in statements)


def test_checker_follows_iam_rules() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:x:bucket/a*"},
            {"Effect": "Deny", "NotAction": ["s3:Get*"], "Resource": "arn:x:bucket/ab?"},
            {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*", "Condition": {"Bool": {"k": "true"}}},
        ]
    }
    assert allowed(policy, "s3:PutObject", "arn:x:bucket/a1")
    assert not allowed(policy, "s3:PutObject", "arn:x:bucket/b1")
    assert not allowed(policy, "s3:PutObject", "arn:x:bucket/abc")
    assert allowed(policy, "s3:GetObject", "arn:x:bucket/abc")
    assert allowed(policy, "s3:DeleteObject", "arn:x:bucket/a1")
    assert not allowed(policy, "s3:DeleteObject", "arn:x:bucket/a1", k="true")


def concrete(policy: dict[str, Any], region: str = "eu-west-1", account: str = "123456789012") -> dict[str, Any]:
    """The policy as IAM sees it in one stack: pseudo parameters replaced by their values."""
    text = json.dumps(policy)
    for name, value in (("Partition", "aws"), ("Region", region), ("AccountId", account)):
        text = text.replace("${AWS::" + name + "}", value)
    return dict(json.loads(text))


def test_the_cli_prints_the_policy_the_template_holds() -> None:
    printed = CliRunner().invoke(cli, ["cloudformation", "--stage", "prod", "--policy"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == runtime_policy(stage_names("prod"))


WRITES = [
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:DeleteSecret",
    "secretsmanager:CreateSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:TagResource",
]


@pytest.mark.parametrize("name", ["data-keys", "dev-keys"])
def test_runtime_reads_but_never_writes_the_operators_secrets(name: str) -> None:
    policy = concrete(runtime_policy(stage_names("prod")))
    arn = f"{ARN}tether/prod/{name}-AbC123"
    assert allowed(policy, "secretsmanager:GetSecretValue", arn)
    for action in WRITES:
        assert not allowed(policy, action, arn), action
        assert not allowed(policy, action, arn, **{"secretsmanager:ForceDeleteWithoutRecovery": "false"}), action


def test_runtime_writes_only_project_secrets_and_never_deletes_for_good() -> None:
    policy = concrete(runtime_policy(stage_names("prod")))
    project = f"{ARN}tether/prod/projects/p1/integrations/wordpress/client-secret/v1-AbC123"
    assert allowed(policy, "secretsmanager:GetSecretValue", project)
    assert allowed(policy, "secretsmanager:CreateSecret", project)
    assert allowed(policy, "secretsmanager:DeleteSecret", project)
    assert allowed(
        policy, "secretsmanager:DeleteSecret", project, **{"secretsmanager:ForceDeleteWithoutRecovery": "false"}
    )
    assert not allowed(
        policy, "secretsmanager:DeleteSecret", project, **{"secretsmanager:ForceDeleteWithoutRecovery": "true"}
    )
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "secretsmanager:PutResourcePolicy"):
        assert not allowed(policy, action, project), action
    # Nothing outside the stage's prefix.
    for other in (f"{ARN}tether/dev/projects/p1/x-AbC123", f"{ARN}other-app/db-AbC123", f"{ARN}tether/prod/x-AbC123"):
        for action in ["secretsmanager:GetSecretValue", *WRITES]:
            assert not allowed(policy, action, other), (action, other)


def test_runtime_manages_only_the_stages_schedules_and_passes_only_the_scheduler_role() -> None:
    policy = concrete(runtime_policy(stage_names("prod")))
    ours = "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/tether-prod-0123abcd"
    for action in ("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"):
        assert allowed(policy, action, ours), action
        for other in (
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/tether-dev-0123abcd",
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/someone-elses",
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/other-group/tether-prod-0123abcd",
        ):
            assert not allowed(policy, action, other), (action, other)
    assert not allowed(policy, "scheduler:DeleteScheduleGroup", "arn:aws:scheduler:eu-west-1:1:schedule-group/default")
    role = "arn:aws:iam::123456789012:role/tether-prod-scheduler"
    assert allowed(policy, "iam:PassRole", role, **{"iam:PassedToService": "scheduler.amazonaws.com"})
    assert not allowed(policy, "iam:PassRole", role, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(
        policy,
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/tether-prod-admin",
        **{"iam:PassedToService": "scheduler.amazonaws.com"},
    )
    # The dispatcher may hand the rest of a tick to itself; no other function may be invoked.
    functions = "arn:aws:lambda:eu-west-1:123456789012:function:"
    assert allowed(policy, "lambda:InvokeFunction", functions + "tether-prod-schedule_dispatcher")
    assert not allowed(policy, "lambda:InvokeFunction", functions + "tether-prod-step_runner")
    assert not allowed(policy, "lambda:InvokeFunction", functions + "tether-dev-schedule_dispatcher")


def test_the_table_and_logs_of_this_stage_only() -> None:
    policy = concrete(runtime_policy(stage_names("prod")))
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/tether-prod"
    assert allowed(policy, "dynamodb:Query", table)
    assert allowed(policy, "dynamodb:Query", table + "/index/GSI1")
    assert not allowed(policy, "dynamodb:Query", "arn:aws:dynamodb:eu-west-1:123456789012:table/tether-dev")
    assert not allowed(policy, "dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/tether-prod")
    assert not allowed(policy, "dynamodb:DeleteTable", table)
    assert not allowed(policy, "dynamodb:Scan", table)
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/tether-prod-api:log-stream:x"
    assert allowed(policy, "logs:PutLogEvents", group)
    assert not allowed(policy, "logs:PutLogEvents", group.replace("tether-prod-api", "other"))
    assert not allowed(policy, "logs:CreateLogGroup", group)  # the stack creates it, with retention


# What chalicelib calls that only the operator's CLI runs, with the operator's credentials.
OPERATOR_ONLY = {
    "dynamodb:Scan": "`tether keys rotate` re-encrypts every sealed item",
    "secretsmanager:PutSecretValue": "the CLI writes the keyring and the development keys",
    "secretsmanager:UpdateSecretVersionStage": "`tether keys rotate` makes the new keyring current",
}
# Operations IAM authorises through other actions, and boto3 helpers named after no operation.
IAM_ACTIONS = {
    "dynamodb:TransactWriteItems": [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ],
    "dynamodb:TransactGetItems": ["dynamodb:GetItem"],
}
HELPERS = {"batch_writer": "dynamodb:BatchWriteItem"}


def operations_the_code_calls() -> set[str]:
    """Every DynamoDB and Secrets Manager operation a call in chalicelib names (`table.get_item(`...)."""
    import ast

    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    methods = dict(HELPERS)
    for service in ("dynamodb", "secretsmanager"):
        for operation in session.get_service_model(service).operation_names:
            methods[xform_name(operation)] = f"{service}:{operation}"
    found = set()
    for path in sorted((Path(__file__).parent.parent / "chalicelib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
                found.add(methods[node.func.attr])
    return found


def test_the_policy_grants_exactly_what_the_code_calls() -> None:
    called = operations_the_code_calls()
    assert set(OPERATOR_ONLY) <= called, "an operator-only exception the code no longer needs"
    needed = {action for op in called - set(OPERATOR_ONLY) for action in IAM_ACTIONS.get(op, [op])}
    granted = {
        action
        for statement in runtime_policy(stage_names("prod"))["Statement"]
        if statement["Effect"] == "Allow"
        for action in _listed(statement["Action"])
        if action.split(":")[0] in ("dynamodb", "secretsmanager")
    }
    assert not granted - needed, f"granted but never called: {sorted(granted - needed)}"
    assert not needed - granted, f"called but not granted: {sorted(needed - granted)}"
