"""The Lambda role's IAM policy: least privilege on secrets, checked statement by statement."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tether.cli import cli
from tether.cloudformation import runtime_policy

ROOT = Path(__file__).parent.parent
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


def _stages() -> dict[str, dict[str, str]]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {
        stage: {**config["environment_variables"], **values.get("environment_variables", {})}
        for stage, values in config["stages"].items()
    }


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_chalice_policy_files_are_the_generated_policy(stage: str) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    variables = _stages()[stage]
    policy_file = ROOT / ".chalice" / config["stages"][stage]["iam_policy_file"]
    expected = runtime_policy(variables["TETHER_TABLE"], variables["TETHER_SECRET_PREFIX"])
    assert json.loads(policy_file.read_text()) == expected
    printed = CliRunner().invoke(cli, ["cloudformation", "--stage", stage, "--policy"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == expected


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
    policy = runtime_policy("tether-prod", "tether/prod")
    arn = f"{ARN}tether/prod/{name}-AbC123"
    assert allowed(policy, "secretsmanager:GetSecretValue", arn)
    for action in WRITES:
        assert not allowed(policy, action, arn), action
        assert not allowed(policy, action, arn, **{"secretsmanager:ForceDeleteWithoutRecovery": "false"}), action


def test_runtime_writes_only_project_secrets_and_never_deletes_for_good() -> None:
    policy = runtime_policy("tether-prod", "tether/prod")
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
    policy = runtime_policy("tether-prod", "tether/prod")
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
