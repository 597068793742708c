"""`tether deploy` and `tether destroy` against moto's server mode (on loopback): the stack and
its resources are created, the URLs printed are the API's from the first deploy, a re-run is an
update, the CLI then reaches the deployed stage, and destroy keeps the table and the secrets.

Moto's CloudFormation has no `AWS::ApiGateway::Stage` nor `AWS::CloudWatch::Alarm` (it skips
them), and creates a `RestApi` without importing its `Body`:
`tether.moto_server` imports the body the way API Gateway does (for good, in this process), and
tests/test_cloudformation.py checks the skipped resources in the template. Lambda is not invoked
(moto would need Docker), so the packaged code serving an event is not shown here.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from chalicelib.api.proxy import GREEDY_PATH
from chalicelib.wiring import reset_services
from tests.packaged import offline_package
from tether import deploy as deployment
from tether import moto_server as moto_server_module
from tether.cli import cli

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = moto_server_module.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


@pytest.fixture
def operator_shell(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An operator's shell whose AWS is moto's server."""
    for name in ("TETHER_STAGE", "TETHER_PUBLIC_URL", "TETHER_TABLE", "TETHER_SECRET_PREFIX", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # --region overrides it
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    reset_services()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")
        yield moto_server
    reset_services()


def _aws(service: str, endpoint: str) -> Any:
    return boto3.session.Session(region_name=REGION).client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stage", "smoke", "--region", REGION])


def _run_without_region(*args: str) -> Result:
    """A command in a fresh shell whose environment names another region (an earlier command of
    this process set AWS_REGION to the one it chose)."""
    shell = CliRunner(env={"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
    return shell.invoke(cli, [*args, "--stage", "smoke"])


def _printed(result: Result, label: str) -> str:
    match = re.search(rf"^  {label}:\s+(\S+)$", result.output, re.MULTILINE)
    assert match, result.output
    return match.group(1)


def test_deploy_creates_the_stack_prints_the_urls_and_destroy_keeps_the_data(
    operator_shell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = operator_shell
    package = str(offline_package())
    first = _run("deploy", "--package", package)
    assert first.exit_code == 0, first.output
    api_url = _printed(first, "API URL")
    assert re.fullmatch(rf"https://[a-z0-9]+\.execute-api\.{REGION}\.amazonaws\.com/api", api_url)
    assert _printed(first, "OAuth callback URL") == api_url + "/oauth/callback"
    assert "Creating the stack tether-smoke in eu-west-1" in first.output
    assert "tether projects create --stage smoke" in first.output

    # The workflow role, with the name state machines are created with.
    assert _aws("iam", endpoint).get_role(RoleName="tether-smoke-workflows")["Role"]["RoleName"]
    # The function knows its public URL from the first deploy, with no placeholder.
    function = _aws("lambda", endpoint).get_function_configuration(FunctionName="tether-smoke-api")
    variables = function["Environment"]["Variables"]
    assert variables["TETHER_PUBLIC_URL"] == api_url
    assert variables["TETHER_STEP_RUNNER_ARN"] == (
        f"arn:aws:lambda:{REGION}:123456789012:function:tether-smoke-step_runner"
    )
    assert variables["TETHER_WORKFLOW_ROLE_ARN"] == "arn:aws:iam::123456789012:role/tether-smoke-workflows"
    runner = _aws("lambda", endpoint).get_function_configuration(FunctionName="tether-smoke-step_runner")
    assert runner["Handler"] == "app.run_step"  # what chalice names it; app.py imports it
    assert (variables["TETHER_STAGE"], variables["TETHER_TABLE"], variables["TETHER_SECRET_PREFIX"]) == (
        "smoke",
        "tether-smoke",
        "tether/smoke",
    )
    # The API: one greedy proxy resource; its id is the one in the URL.
    gateway = _aws("apigateway", endpoint)
    [api] = [a for a in gateway.get_rest_apis()["items"] if a["name"] == "tether-smoke"]
    assert api_url.startswith(f"https://{api['id']}.")
    paths = {r["path"] for r in gateway.get_resources(restApiId=api["id"], limit=500)["items"]}
    assert GREEDY_PATH in paths
    assert not [p for p in paths if p.endswith("{p2}")]
    # The table, protected; the log groups with retention; the keyring, created by deploy.
    table = _aws("dynamodb", endpoint).describe_table(TableName="tether-smoke")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    groups = {
        g["logGroupName"]: g.get("retentionInDays") for g in _aws("logs", endpoint).describe_log_groups()["logGroups"]
    }
    assert groups["/aws/lambda/tether-smoke-api"] == 30
    assert groups["/aws/apigateway/tether-smoke/access"] == 30
    secrets = _aws("secretsmanager", endpoint)
    assert secrets.describe_secret(SecretId="tether/smoke/data-keys")["Name"] == "tether/smoke/data-keys"
    # API Gateway may write the access log: the account's role (outside the stack) is set.
    role_arn = gateway.get_account()["cloudwatchRoleArn"]
    assert role_arn.endswith(":role/tether-apigateway-cloudwatch-logs")
    # The artifacts bucket is private and encrypted.
    s3 = _aws("s3", endpoint)
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("tether-artifacts-")]
    assert bucket == f"tether-artifacts-123456789012-{REGION}"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    # The operator's next step works against the deployed stage.
    created = _run("projects", "create", "--name", "Smoke")
    assert created.exit_code == 0, created.output
    assert '"projectId"' in created.output

    # Without --region, a command goes where the stage was deployed (AWS_REGION says us-east-1,
    # where there is no such stage); --region still wins.
    record = json.loads((Path(os.environ["TETHER_CONFIG_DIR"]) / "deployed" / "smoke.json").read_text())
    assert (record["region"], record["account"], record["apiUrl"]) == (REGION, "123456789012", api_url)
    listed = _run_without_region("projects", "list")
    assert listed.exit_code == 0, listed.output
    assert [p["name"] for p in json.loads(listed.output)] == ["Smoke"]
    elsewhere = _run_without_region("projects", "list", "--region", "us-east-1")
    assert elsewhere.exit_code == 1
    assert "No table tether-smoke in this region" in elsewhere.output

    # Deploying again updates the same stack; the URL stays. (A template too large to pass
    # inline goes through S3: shown here by lowering the limit.)
    monkeypatch.setattr(deployment, "INLINE_TEMPLATE_LIMIT", 1000)
    again = _run("deploy", "--package", package, "--alarm-email", "ops@example.com")
    assert again.exit_code == 0, again.output
    assert "Updating the stack tether-smoke" in again.output
    assert "(passed via S3)" in again.output
    topics = _aws("sns", endpoint).list_topics()["Topics"]
    assert [t for t in topics if t["TopicArn"].endswith(":tether-smoke-alarms")]
    assert _printed(again, "API URL") == api_url

    destroyed = _run("destroy", "--yes")
    assert destroyed.exit_code == 0, destroyed.output
    assert "the table tether-smoke" in destroyed.output
    assert "tether/smoke/*" in destroyed.output
    stacks = _aws("cloudformation", endpoint).list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackName"] == "tether-smoke"] == ["DELETE_COMPLETE"]
    assert "tether-smoke" in _aws("dynamodb", endpoint).list_tables()["TableNames"]
    assert secrets.describe_secret(SecretId="tether/smoke/data-keys")["Name"] == "tether/smoke/data-keys"
    assert gateway.get_account()["cloudwatchRoleArn"] == role_arn  # other stages log through it too
    with pytest.raises(Exception, match="tether-smoke-api"):
        _aws("lambda", endpoint).get_function_configuration(FunctionName="tether-smoke-api")

    nothing = _run("destroy", "--yes")
    assert nothing.exit_code == 1
    assert nothing.output.strip() == "Error: No stack tether-smoke in eu-west-1."
    # The record went with the stack: the environment's region applies again.
    assert not (Path(os.environ["TETHER_CONFIG_DIR"]) / "deployed" / "smoke.json").exists()
    gone = _run_without_region("projects", "list")
    assert gone.exit_code == 1
    assert "No table tether-smoke in this region" in gone.output
