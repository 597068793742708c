"""Operators' mistakes end in one clear line, never a traceback: a missing stage or region, no
credentials, an unreachable or refusing AWS, an undeployed stage, a placeholder public URL
(the deployed function refuses to serve with one too)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from chalicelib.config import public_url_problem, stage_names
from chalicelib.wiring import reset_services
from tests.conftest import Api
from tether.cli import cli


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with no AWS configuration at all (and no instance metadata to fall back on)."""
    empty = tmp_path / "empty"
    empty.write_text("")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("TETHER_STAGE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # boto3's default session keeps the credentials it found first; a fresh process has none yet.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    reset_services()


def test_every_aws_command_needs_a_stage(no_aws: None) -> None:
    commands = [
        ["projects", "create", "--name", "x"],
        ["projects", "origins", "show", "--project", "p"],
        ["keys", "rotate"],
        ["dev-keys", "set", "--client-id", "1", "--client-secret", "s"],
    ]
    for command in commands:
        line = _one_line_error(CliRunner().invoke(cli, command))
        assert line == "Error: No stage: give --stage (or set TETHER_STAGE), e.g. --stage prod.", command


def test_a_bad_stage_name_is_refused(no_aws: None) -> None:
    line = _one_line_error(CliRunner().invoke(cli, ["keys", "rotate", "--stage", "Prod_1", "--region", "eu-west-1"]))
    assert "Bad stage name 'Prod_1'" in line


def test_no_region(no_aws: None) -> None:
    line = _one_line_error(CliRunner().invoke(cli, ["keys", "rotate", "--stage", "prod"]))
    assert line == "Error: No AWS region: give --region (or set AWS_REGION)."


def test_aws_region_is_honoured(no_aws: None, monkeypatch: pytest.MonkeyPatch, refusing_endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", refusing_endpoint)  # out of reach of the tests' in-process moto
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    line = _one_line_error(CliRunner().invoke(cli, ["keys", "rotate", "--stage", "prod"]))
    assert line.startswith("Error: No AWS credentials")


def test_no_credentials(no_aws: None, monkeypatch: pytest.MonkeyPatch, refusing_endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", refusing_endpoint)  # out of reach of the tests' in-process moto
    line = _one_line_error(
        CliRunner().invoke(cli, ["projects", "create", "--name", "x", "--stage", "prod", "--region", "eu-west-1"])
    )
    assert line == "Error: No AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."


class _Refusing(BaseHTTPRequestHandler):
    """An AWS JSON-protocol endpoint that refuses every call as IAM would."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(
            {
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "message": "User: arn:aws:iam::1:user/op\nis not authorized",
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _with_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


def test_access_denied(no_aws: None, monkeypatch: pytest.MonkeyPatch, refusing_endpoint: str) -> None:
    _with_endpoint(monkeypatch, refusing_endpoint)
    line = _one_line_error(
        CliRunner().invoke(cli, ["projects", "create", "--name", "x", "--stage", "prod", "--region", "eu-west-1"])
    )
    assert line == (
        "Error: AWS denied DescribeTable: User: arn:aws:iam::1:user/op is not authorized. "
        "The credentials in use lack this permission."
    )


def test_unreachable_endpoint(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_endpoint(monkeypatch, "http://127.0.0.1:9")  # the discard port: nothing listens on loopback
    line = _one_line_error(CliRunner().invoke(cli, ["keys", "rotate", "--stage", "prod", "--region", "eu-west-1"]))
    assert line == "Error: Cannot reach AWS at http://127.0.0.1:9/: check the region and the network."


def test_cli_refuses_to_create_a_table_the_stack_owns(aws_env: None) -> None:
    result = CliRunner().invoke(cli, ["projects", "create", "--name", "x", "--stage", "staging"])
    line = _one_line_error(result)
    assert line == (
        "Error: No table tether-staging in this region: deploy the stage first (tether deploy --stage staging)."
    )
    assert "tether-staging" not in boto3.client("dynamodb").list_tables()["TableNames"]


def test_cli_refuses_a_placeholder_public_url(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_PUBLIC_URL", "https://REPLACE-WITH-YOUR-DOMAIN")
    line = _one_line_error(CliRunner().invoke(cli, ["keys", "rotate", "--stage", "prod", "--region", "eu-west-1"]))
    assert "TETHER_PUBLIC_URL is a placeholder (https://REPLACE-WITH-YOUR-DOMAIN)" in line


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (None, "not set"),
        ("", "not set"),
        ("https://REPLACE-WITH-API-ID.execute-api.REGION.amazonaws.com/api", "placeholder"),
        ("https://<your-domain>", "placeholder"),
        ("http://api.example.com", "https://"),
        ("https://api.example.com/?x=1", "https://"),
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/api", None),
        ("https://tether.example.com", None),
    ],
)
def test_public_url_problem(url: str | None, problem: str | None) -> None:
    found = public_url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize("url", [None, "https://REPLACE-WITH-YOUR-DOMAIN"])
def test_lambda_refuses_to_serve_without_a_real_public_url(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str | None
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "tether-test-api")
    if url is None:
        monkeypatch.delenv("TETHER_PUBLIC_URL")
    else:
        monkeypatch.setenv("TETHER_PUBLIC_URL", url)
    reset_services()
    with caplog.at_level(logging.ERROR):
        for path in ("/projects/4b0b7f9e-2c52-4f5c-9d52-2b9a4c1f0e11", "/oauth/callback?state=x&code=y"):
            response = api.call("GET", path)
            assert response.status == 500
            assert response.json == {
                "message": "The deployment is misconfigured; see the function's log.",
                "code": "misconfigured",
            }
    reasons = [r.getMessage() for r in caplog.records if "misconfigured" in r.getMessage()]
    assert reasons
    assert all("\n" not in reason and "TETHER_PUBLIC_URL" in reason for reason in reasons)


def test_lambda_serves_with_a_real_public_url(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "tether-test-api")
    monkeypatch.setenv("TETHER_PUBLIC_URL", "https://abc123.execute-api.us-east-1.amazonaws.com/api")
    reset_services()
    response = api.call("GET", "/projects/4b0b7f9e-2c52-4f5c-9d52-2b9a4c1f0e11")
    assert response.status == 401


def test_stage_names_are_derived_in_one_place() -> None:
    names = stage_names("prod")
    assert (names.table, names.secret_prefix, names.stack, names.api_function) == (
        "tether-prod",
        "tether/prod",
        "tether-prod",
        "tether-prod-api",
    )
