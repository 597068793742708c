"""`tether deploy` and `tether destroy`: one stack per stage, created or updated with boto3 (no
AWS CLI), from `chalice package`'s output turned into Tether's template."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import StageNames
from tether.cloudformation import INLINE_TEMPLATE_LIMIT, S3_TEMPLATE_LIMIT, TemplateOptions, build_template, render

PROJECT_DIR = Path(__file__).resolve().parent.parent
_DONE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "DELETE_COMPLETE",
    "ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
}
_SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE"}

Progress = Callable[[str], None]
# Builds the deployment package for a stage in a directory: writes `sam.json` and `deployment.zip`.
Packager = Callable[[StageNames, str, Path], None]


class DeployError(Exception):
    """The deployment failed; the message says why in one line."""


@dataclass(frozen=True)
class Deployed:
    """What an operator needs after a deploy."""

    stack: str
    api_url: str
    callback_url: str
    outputs: dict[str, str]


ARCHITECTURES = ("x86_64", "arm64")


def chalice_packager(architecture: str = "x86_64", project_dir: Path = PROJECT_DIR) -> Packager:
    """A packager running `chalice package` (its pip step fetches Lambda's wheels for the
    architecture) on a copy of the app whose chalice config names the architecture."""
    if architecture not in ARCHITECTURES:
        raise DeployError(f"Unknown architecture {architecture}: use one of {', '.join(ARCHITECTURES)}.")

    def packager(names: StageNames, region: str, out_dir: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="tether-project-") as work:
            project = Path(work)
            shutil.copy(project_dir / "app.py", project / "app.py")
            shutil.copy(project_dir / "requirements.txt", project / "requirements.txt")
            shutil.copytree(
                project_dir / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
            )
            (project / ".chalice").mkdir()
            config = json.loads((project_dir / ".chalice" / "config.json").read_text())
            config["lambda_architecture"] = architecture
            (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
            # Share chalice's cache of built dependencies with the real project.
            cache = project_dir / ".chalice" / "deployments"
            cache.mkdir(exist_ok=True)
            (project / ".chalice" / "deployments").symlink_to(cache, target_is_directory=True)
            chalice = Path(sys.executable).with_name("chalice")
            command = [str(chalice if chalice.exists() else "chalice"), "package", "--stage", names.stage, str(out_dir)]
            env = {**os.environ, "AWS_DEFAULT_REGION": region}
            done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - our own fixed command
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise DeployError(f"chalice package failed: {last[-1] if last else 'no output'}")

    return packager


def copy_package(source: Path) -> Packager:
    """A packager that reuses what `chalice package` wrote in `source` earlier."""

    def packager(names: StageNames, region: str, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("sam.json", "deployment.zip"):
            if not (source / name).is_file():
                raise DeployError(f"No {name} in {source}: give the directory `chalice package` wrote.")
            shutil.copyfile(source / name, out_dir / name)

    return packager


def package_into(names: StageNames, region: str, packager: Packager | None) -> dict[str, Any]:
    """Package the app and return chalice's SAM template (the package itself is thrown away)."""
    with tempfile.TemporaryDirectory(prefix="tether-package-") as work:
        out = Path(work) / "out"
        (packager or chalice_packager())(names, region, out)
        sam: dict[str, Any] = json.loads((out / "sam.json").read_text())
    return sam


def artifacts_bucket_name(account_id: str, region: str) -> str:
    """The artifacts bucket `tether deploy` creates when none is given (one per account and region)."""
    return f"tether-artifacts-{account_id}-{region}"


def ensure_artifacts_bucket(s3: Any, bucket: str, region: str, progress: Progress) -> None:
    """Create the private, encrypted artifacts bucket unless it exists."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    progress(f"Creating the artifacts bucket {bucket} (private, encrypted)")
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**arguments)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


# API Gateway writes every stage's logs of an account and region through one role, an account
# setting. It lives outside the stacks: a stack deleting it would break the other stages' logs.
LOGS_ROLE = "tether-apigateway-cloudwatch-logs"
# What AWS's managed AmazonAPIGatewayPushToCloudWatchLogs grants, within this account.
LOGS_ACTIONS = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
]


def ensure_api_gateway_logging(
    session: Any, progress: Progress, *, attempts: int = 10, pause: Callable[[float], None] = time.sleep
) -> None:
    """Give API Gateway its CloudWatch Logs role in this region unless it has one (any role)."""
    gateway = session.client("apigateway")
    if gateway.get_account().get("cloudwatchRoleArn"):
        return
    iam = session.client("iam")
    try:
        role_arn = iam.get_role(RoleName=LOGS_ROLE)["Role"]["Arn"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role_arn = iam.create_role(
            RoleName=LOGS_ROLE,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="Lets API Gateway write access logs (account setting; kept by tether destroy)",
        )["Role"]["Arn"]
        partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": LOGS_ACTIONS, "Resource": f"arn:{partition}:logs:*:{account}:*"}
            ],
        }
        iam.put_role_policy(RoleName=LOGS_ROLE, PolicyName="write-logs", PolicyDocument=json.dumps(policy))
    progress(f"Letting API Gateway write logs in this region (account setting: role {LOGS_ROLE})")
    for attempt in range(attempts):
        try:
            gateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}])
            return
        except ClientError as error:
            # A new role takes a few seconds to be usable everywhere.
            if error.response.get("Error", {}).get("Code") != "BadRequestException" or attempt == attempts - 1:
                raise
            pause(3.0)


def _stack_status(cloudformation: Any, stack: str) -> str | None:
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error.response.get("Error", {}).get("Message", "")):
            return None
        raise
    status: str = found[0]["StackStatus"]
    return status


def wait_for_stack(
    cloudformation: Any, stack: str, progress: Progress, *, poll_seconds: float = 5.0, since: float = 0.0
) -> str:
    """Print the stack's events as they come until it settles; return its final status."""
    seen: set[str] = set()
    while True:
        status = _stack_status(cloudformation, stack)
        events = []
        with contextlib.suppress(ClientError):  # a deleted stack has no events to list
            events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen or event["Timestamp"].timestamp() < since:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            line = f"  {event['ResourceStatus']:<20} {event['LogicalResourceId']}"
            progress(line + (f": {reason}" if reason and "FAILED" in event["ResourceStatus"] else ""))
        if status is None:
            return "DELETE_COMPLETE"
        if status in _DONE:
            return status
        time.sleep(poll_seconds)


def deploy(
    session: Any,
    names: StageNames,
    options: TemplateOptions,
    *,
    bucket: str | None = None,
    packager: Packager | None = None,
    progress: Progress = print,
    poll_seconds: float = 5.0,
) -> Deployed:
    """Package, upload, create or update the stage's stack, and return its URLs."""
    region = session.region_name
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = bucket or artifacts_bucket_name(account, region)
    status = _stack_status(cloudformation, names.stack)
    if status is not None and status.endswith("_IN_PROGRESS"):
        raise DeployError(f"The stack {names.stack} is busy ({status}); wait for it to settle and retry.")
    ensure_artifacts_bucket(s3, bucket, region, progress)
    ensure_api_gateway_logging(session, progress)

    with tempfile.TemporaryDirectory(prefix="tether-package-") as work:
        out = Path(work) / "out"
        progress(f"Packaging the app for stage {names.stage} (chalice package)")
        (packager or chalice_packager())(names, region, out)
        sam = json.loads((out / "sam.json").read_text())
        code = (out / "deployment.zip").read_bytes()
    try:
        body = render(build_template(sam, names, options))
    except ValueError as error:
        raise DeployError(str(error)) from None
    size = len(body.encode())
    if size > S3_TEMPLATE_LIMIT:
        raise DeployError(f"The template is {size} bytes, over CloudFormation's limit of {S3_TEMPLATE_LIMIT}.")

    code_key = f"{names.stage}/deployment-{hashlib.sha256(code).hexdigest()[:20]}.zip"
    progress(f"Uploading the code to s3://{bucket}/{code_key} ({len(code) // 1024} KiB)")
    s3.put_object(Bucket=bucket, Key=code_key, Body=code)
    template_key = f"{names.stage}/template-{hashlib.sha256(body.encode()).hexdigest()[:20]}.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body.encode(), ContentType="application/json")
    inline = size <= INLINE_TEMPLATE_LIMIT
    progress(f"Template: {size} bytes, s3://{bucket}/{template_key}" + ("" if inline else " (passed via S3)"))
    source = (
        {"TemplateBody": body}
        if inline
        else {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"}
    )
    arguments: dict[str, Any] = {
        "StackName": names.stack,
        **source,
        "Parameters": [
            {"ParameterKey": "CodeBucket", "ParameterValue": bucket},
            {"ParameterKey": "CodeKey", "ParameterValue": code_key},
        ],
        # The workflow role has a fixed name (state machines are created with it): NAMED_IAM.
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        "Tags": [{"Key": "tether:stage", "Value": names.stage}],
    }
    if status == "ROLLBACK_COMPLETE":
        progress(f"The stack {names.stack} failed to create before; deleting what is left of it first")
        cloudformation.delete_stack(StackName=names.stack)
        wait_for_stack(cloudformation, names.stack, progress, poll_seconds=poll_seconds)
        status = None
    started = time.time() - 1
    if status is None:
        progress(f"Creating the stack {names.stack} in {region}")
        cloudformation.create_stack(**arguments, OnFailure="ROLLBACK")
    else:
        progress(f"Updating the stack {names.stack} in {region}")
        try:
            cloudformation.update_stack(**arguments)
        except ClientError as error:
            if "No updates are to be performed" not in str(error.response.get("Error", {}).get("Message", "")):
                raise
            progress("Nothing to change")
    final = wait_for_stack(cloudformation, names.stack, progress, poll_seconds=poll_seconds, since=started)
    if final not in _SUCCEEDED:
        raise DeployError(f"The stack {names.stack} ended in {final}; the events above say why.")
    return _deployed(cloudformation, names)


def _deployed(cloudformation: Any, names: StageNames) -> Deployed:
    stack = cloudformation.describe_stacks(StackName=names.stack)["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    return Deployed(names.stack, outputs["ApiUrl"], outputs["OAuthCallbackUrl"], outputs)


def deployed_outputs(session: Any, names: StageNames) -> Deployed | None:
    """The stage's deployed URLs, or None when it has no stack."""
    cloudformation = session.client("cloudformation")
    if _stack_status(cloudformation, names.stack) is None:
        return None
    return _deployed(cloudformation, names)


def destroy(session: Any, names: StageNames, *, progress: Progress = print, poll_seconds: float = 5.0) -> None:
    """Delete the stage's stack. The table (with its data) and the stage's secrets are retained."""
    cloudformation = session.client("cloudformation")
    if _stack_status(cloudformation, names.stack) is None:
        raise DeployError(f"No stack {names.stack} in {session.region_name}.")
    started = time.time() - 1
    progress(f"Deleting the stack {names.stack}")
    cloudformation.delete_stack(StackName=names.stack)
    final = wait_for_stack(cloudformation, names.stack, progress, poll_seconds=poll_seconds, since=started)
    if final != "DELETE_COMPLETE":
        raise DeployError(f"The stack {names.stack} ended in {final}; its events above say why.")
