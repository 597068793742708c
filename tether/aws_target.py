"""What every CLI command that talks to AWS shares: `--stage` and `--region`, the environment
they select, and AWS failures reported as one line (exit 1) instead of a traceback.

`tether deploy` records where it deployed each stage in `<config dir>/deployed/<stage>.json`
(`TETHER_CONFIG_DIR`, else `$XDG_CONFIG_HOME/tether`, else `~/.config/tether`); a command
without `--region` then goes to the region the stage was deployed to."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from chalicelib.config import StageNames, public_url_problem, stage_names

F = TypeVar("F", bound=Callable[..., Any])

_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
_BAD_CREDENTIALS = {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException"}


def config_dir() -> Path:
    """Where the CLI keeps what it knows about deployed stages."""
    configured = os.environ.get("TETHER_CONFIG_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tether"


def _record_path(stage: str) -> Path:
    return config_dir() / "deployed" / f"{stage}.json"


def record_deployment(names: StageNames, region: str, account: str, api_url: str) -> Path:
    """Remember that `names.stage` is deployed in `region` (written after each deploy)."""
    path = _record_path(names.stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "stage": names.stage,
        "region": region,
        "account": account,
        "stack": names.stack,
        "apiUrl": api_url,
        "deployedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def forget_deployment(stage: str) -> None:
    """Drop the record of a destroyed stage."""
    _record_path(stage).unlink(missing_ok=True)


def recorded_region(stage: str) -> str | None:
    """The region `tether deploy` last deployed `stage` to from this machine, if it recorded one."""
    try:
        record = json.loads(_record_path(stage).read_text())
    except (OSError, ValueError):
        return None
    region = record.get("region") if isinstance(record, dict) else None
    return region if isinstance(region, str) and region.strip() else None


def resolve_region(region: str | None, stage: str | None = None) -> str:
    """`--region`, else the region the stage was deployed to (`tether deploy`'s record), else
    `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's region."""
    recorded = recorded_region(stage) if stage else None
    for candidate in (region, recorded, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION")):
        if candidate and candidate.strip():
            return candidate.strip()
    import boto3

    configured = boto3.session.Session().region_name
    if configured:
        return configured
    raise click.ClickException("No AWS region: give --region (or set AWS_REGION).")


def select_target(stage: str | None, region: str | None) -> StageNames:
    """Point this process (settings, boto3) at `stage` in `region` and return the stage's names."""
    from chalicelib.wiring import reset_services

    if not stage:
        raise click.ClickException("No stage: give --stage (or set TETHER_STAGE), e.g. --stage prod.")
    try:
        names = stage_names(stage)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    chosen = resolve_region(region, names.stage)
    os.environ["TETHER_STAGE"] = names.stage
    os.environ["AWS_REGION"] = chosen
    os.environ["AWS_DEFAULT_REGION"] = chosen
    public_url = os.environ.get("TETHER_PUBLIC_URL")
    if public_url is not None:
        problem = public_url_problem(public_url)
        if problem is not None and not public_url.startswith(("http://127.0.0.1", "http://localhost")):
            raise click.ClickException(f"{problem}: unset it, or set it to the deployed API's URL.")
    reset_services()
    return names


def describe_aws_error(error: Exception) -> str | None:
    """One line saying what went wrong talking to AWS, or None when `error` is not an AWS failure."""
    from botocore import exceptions as aws

    if isinstance(error, aws.NoRegionError):
        return "No AWS region: give --region (or set AWS_REGION)."
    if isinstance(error, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return "No AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
    if isinstance(error, aws.EndpointConnectionError):
        return f"Cannot reach AWS at {error.kwargs.get('endpoint_url', '?')}: check the region and the network."
    if isinstance(error, aws.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "?"))
        message = " ".join(str(details.get("Message", "")).split())
        operation = error.operation_name
        if code in _ACCESS_DENIED:
            return f"AWS denied {operation}: {message or code}. The credentials in use lack this permission."
        if code in _BAD_CREDENTIALS:
            return f"AWS refused the credentials ({code}): {message}"
        return f"AWS error in {operation} ({code}): {message}"
    if isinstance(error, aws.BotoCoreError):
        return "AWS error: " + " ".join(str(error).split())
    return None


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn AWS failures raised inside into a one-line `click.ClickException` (exit 1)."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as error:
        line = describe_aws_error(error)
        if line is None:
            raise
        raise click.ClickException(line) from None


def aws_command(func: F) -> F:
    """Give a command `--stage` and `--region`, select them before it runs, and report AWS
    failures in one line. The command reads the selection with `current_names()`."""

    @click.option(
        "--region",
        default=None,
        help="AWS region [default: where tether deploy put the stage, else AWS_REGION, AWS_DEFAULT_REGION, "
        "or the profile's].",
    )
    @click.option(
        "--stage", envvar="TETHER_STAGE", default=None, help="Deployment stage, e.g. prod [env: TETHER_STAGE]."
    )
    @functools.wraps(func)
    def wrapper(*args: Any, stage: str | None, region: str | None, **kwargs: Any) -> Any:
        with aws_errors():
            names = select_target(stage, region)
            click.get_current_context().meta["tether.names"] = names
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_names() -> StageNames:
    """The stage names selected by `aws_command` for the running command."""
    names: StageNames = click.get_current_context().meta["tether.names"]
    return names
