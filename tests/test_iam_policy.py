"""The functions' IAM roles: least privilege on secrets, checked statement by statement, and each
role compared with the AWS calls its function's code can reach (tests/aws_reach.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib.config import stage_names
from tests import aws_reach
from tether.cli import cli
from tether.cloudformation import FUNCTION_POLICIES, dispatcher_policy, function_name, runtime_policy

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
    # The dispatcher may hand the rest of a tick to itself; no other function may be invoked, and
    # the API invokes none.
    functions = "arn:aws:lambda:eu-west-1:123456789012:function:"
    dispatcher = concrete(dispatcher_policy(stage_names("prod")))
    assert allowed(dispatcher, "lambda:InvokeFunction", functions + "tether-prod-schedule_dispatcher")
    assert not allowed(dispatcher, "lambda:InvokeFunction", functions + "tether-prod-step_runner")
    assert not allowed(dispatcher, "lambda:InvokeFunction", functions + "tether-dev-schedule_dispatcher")
    assert not allowed(policy, "lambda:InvokeFunction", functions + "tether-prod-schedule_dispatcher")


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


# AWS calls in chalicelib that no Lambda function's code reaches: the operator's CLI makes them,
# with the operator's credentials.
OPERATOR_ONLY = {
    "dynamodb:Scan": "`tether keys rotate` re-encrypts every sealed item",
    "secretsmanager:PutSecretValue": "the CLI writes the keyring and the development keys",
    "secretsmanager:UpdateSecretVersionStage": "`tether keys rotate` makes the new keyring current",
}
# Granted without the code calling them: the Lambda runtime writes the function's own logs.
RUNTIME_GRANTS = {("logs:CreateLogStream", None), ("logs:PutLogEvents", None)}


def granted_actions(policy: dict[str, Any]) -> set[tuple[str, str | None]]:
    """Every action a policy allows, as (action, the service a passed role may go to)."""
    granted = set()
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for action in _listed(statement["Action"]):
            passed_to = None
            if action == "iam:PassRole":
                passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
            granted.add((action, passed_to))
    return granted


def needed_actions(calls: set[aws_reach.Call]) -> set[tuple[str, str | None]]:
    return {needed for call in calls for needed in aws_reach.iam_actions(call)}


def _role_mismatches(logical_id: str, calls: set[aws_reach.Call]) -> list[str]:
    names = stage_names("prod")
    policy = FUNCTION_POLICIES[logical_id](names, function_name(names, logical_id))
    granted = granted_actions(policy)
    needed = needed_actions(calls) | RUNTIME_GRANTS
    unused = sorted(granted - needed, key=str)
    problems = [f"{logical_id} grants {action} but its code never calls it" for action in unused]
    for action in sorted(needed - granted, key=str):
        sites = sorted(c.where for c in calls if action in aws_reach.iam_actions(c))
        problems.append(f"{logical_id} misses {action}, called at {sites}")
    return problems


@pytest.fixture(scope="module")
def reached() -> dict[str, tuple[set[aws_reach.Call], set[str]]]:
    return aws_reach.calls_by_function()


def test_each_role_grants_exactly_what_its_functions_code_calls(
    reached: dict[str, tuple[set[aws_reach.Call], set[str]]],
) -> None:
    assert set(reached) == set(FUNCTION_POLICIES), "a function without a role, or a role without a function"
    problems = []
    for logical_id, (calls, ambiguous) in reached.items():
        assert not ambiguous, f"cannot tell which service these calls go to: {sorted(ambiguous)}"
        problems += _role_mismatches(logical_id, calls)
    assert not problems, "\n".join(problems)


def test_the_scan_finds_every_aws_call_in_the_code_and_every_service() -> None:
    """What no function reaches is exactly what only the operator's CLI calls: the walk from the
    entry points loses no code that makes AWS calls (a lost edge would hide a missing grant)."""
    program = aws_reach.program()
    everything = aws_reach.Walker(program)
    calls = everything.reach(sorted(program.functions))
    reached = set()
    for entries in aws_reach.lambda_entry_points().values():
        reached |= {(c.service, c.operation) for c in aws_reach.Walker(program).reach(entries)}
    unreached = {
        action
        for call in calls
        if (call.service, call.operation) not in reached
        for action, _ in aws_reach.iam_actions(call)
    }
    assert unreached == set(OPERATOR_ONLY)
    # Every service the code builds a client for is one the walk saw called.
    assert (
        {c.service for c in calls}
        == program.services
        == {
            "dynamodb",
            "secretsmanager",
            "s3",
            "stepfunctions",
            "scheduler",
            "lambda",
        }
    )


def test_the_scan_reads_low_level_clients_typed_or_not(tmp_path: Path) -> None:
    """A DynamoDB client (annotated, or an untyped factory's) is followed like the Table resource."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import Any\n"
        "from mypy_boto3_dynamodb.client import DynamoDBClient\n"
        "def typed(client: DynamoDBClient) -> None:\n"
        "    client.transact_write_items(TransactItems=[])\n"
        "def untyped(factory: Any) -> None:\n"
        "    factory().batch_get_item(RequestItems={})\n"
        "    factory().tag_resource(ResourceArn='x', Tags=[])\n"
    )
    program = aws_reach.program()
    module = aws_reach.Module("probe", source, aws_reach.ast.parse(source.read_text()))
    program.modules["probe"] = module
    try:
        program._index(module)
        aws_reach._link_parents(module.tree)
        walker = aws_reach.Walker(program)
        calls = walker.reach(["probe.typed", "probe.untyped"])
    finally:
        del program.modules["probe"]
        for name in ("probe.typed", "probe.untyped"):
            del program.functions[name]
    assert {(c.service, c.operation) for c in calls} == {
        ("dynamodb", "TransactWriteItems"),
        ("dynamodb", "BatchGetItem"),
    }
    assert needed_actions(calls) >= {("dynamodb:PutItem", None), ("dynamodb:ConditionCheckItem", None)}
    [ambiguous] = walker.ambiguous
    assert "tag_resource" in ambiguous


def test_passing_a_role_or_tags_needs_passrole_and_tagresource() -> None:
    """Derived from botocore's models, not listed by hand."""
    create = aws_reach.Call("stepfunctions", "CreateStateMachine", frozenset({"name", "roleArn", "tags"}), "x")
    assert aws_reach.iam_actions(create) == {
        ("states:CreateStateMachine", None),
        ("states:TagResource", None),
        ("iam:PassRole", "states.amazonaws.com"),
    }
    untagged = aws_reach.Call("stepfunctions", "CreateStateMachine", frozenset({"name", "roleArn"}), "x")
    assert ("states:TagResource", None) not in aws_reach.iam_actions(untagged)
    schedule = aws_reach.Call("scheduler", "CreateSchedule", frozenset(), "x")
    assert ("iam:PassRole", "scheduler.amazonaws.com") in aws_reach.iam_actions(schedule)
    start = aws_reach.Call("stepfunctions", "StartExecution", frozenset(), "x")
    assert aws_reach.iam_actions(start) == {("states:StartExecution", None)}
    invoke = aws_reach.Call("lambda", "Invoke", frozenset(), "x")
    assert aws_reach.iam_actions(invoke) == {("lambda:InvokeFunction", None)}
