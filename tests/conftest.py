"""Shared fixtures: moto-backed AWS, a provisioned deployment, projects with signing keys, and a
guard that fails any test whose logs or responses contain a secret it created."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core.config import default_user_config

from tether.tokens import generate_rsa_private_key_pem, public_key_pem, sign_user_token

CHALICE_TEST_PROJECT = Path(__file__).parent / "chalice_project"
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TETHER_STAGE": "test",
    "TETHER_PUBLIC_URL": "http://127.0.0.1:9",
    "TETHER_WPCOM_ORIGIN": "http://127.0.0.1:9",
    "TETHER_MAX_BODY_BYTES": "65536",
}


@lru_cache(maxsize=8)
def rsa_private_key(index: int) -> str:
    """Pre-generated RSA keys (generation is slow; tests share them by index)."""
    return generate_rsa_private_key_pem()


class SecretWatch:
    """Collects secrets a test creates, plus every log line and response it sees."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.seen: list[str] = []

    def add(self, *values: str) -> None:
        for value in values:
            if value:
                self.secrets.add(value)
                # A PEM may leak line by line: watch each base64 body line too.
                self.secrets.update(line for line in value.splitlines() if len(line) > 40)

    def disclosed_by_design(self, body: bytes) -> None:
        """Forget one response body that shows a secret on purpose (a webhook secret in the one
        response that creates it); every other place it appears still counts as a leak."""
        self.seen.remove(body.decode("utf-8", "replace"))

    def leaks(self) -> list[str]:
        text = "\n".join(self.seen)
        return sorted(secret[:12] + "..." for secret in self.secrets if secret in text)


class _CaptureAll(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))
        if record.exc_info:
            self.sink.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture(autouse=True)
def cli_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's record of deployed stages (the default --region) in a directory of the test's
    own, never the user's ~/.config."""
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(tmp_path_factory.mktemp("tether-config")))


@pytest.fixture(autouse=True)
def secret_watch() -> Iterator[SecretWatch]:
    """Fail the test if any registered secret shows up in a log record or an HTTP response."""
    watch = SecretWatch()
    handler = _CaptureAll(watch.seen)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    leaked = watch.leaks()
    assert not leaked, f"secrets leaked into logs or responses: {leaked}"


def _set_test_env(patch: pytest.MonkeyPatch) -> None:
    for name, value in TEST_ENV.items():
        patch.setenv(name, value)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch.delenv("AWS_PROFILE", raising=False)
    patch.delenv("AWS_REGION", raising=False)  # the CLI sets it from --region


# Kept for the process (mutmut's forked workers inherit the models the parent has parsed).
_LOADERS: dict[Any, Any] = {}


def _share_service_models(patch: pytest.MonkeyPatch) -> None:
    """One botocore loader for every boto3 session the tests build: each test's fresh services
    start a new session, and a new loader parses its service models' JSON again (about 80 ms a
    client on this machine)."""
    import botocore.loaders
    import botocore.session

    create_loader = botocore.loaders.create_loader

    def shared_loader(search_path_string: Any = None) -> botocore.loaders.Loader:
        if search_path_string not in _LOADERS:
            _LOADERS[search_path_string] = create_loader(search_path_string)
        return _LOADERS[search_path_string]

    patch.setattr(botocore.session, "create_loader", shared_loader)


def _track_current_secret_versions(patch: pytest.MonkeyPatch) -> None:
    """Moto answers a GetSecretValue without a stage from its own notion of the default version,
    which UpdateSecretVersionStage does not move along with AWSCURRENT (AWS does): keep it in step."""
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(self: Any, secret_id: str, version_stage: str, *args: Any, **kwargs: Any) -> Any:
        result = original(self, secret_id, version_stage, *args, **kwargs)
        if version_stage == "AWSCURRENT":
            secret = self.secrets[secret_id]
            secret.default_version_id = next(
                v for v, data in secret.versions.items() if "AWSCURRENT" in data["version_stages"]
            )
        return result

    patch.setattr(SecretsManagerBackend, "update_secret_version_stage", update_secret_version_stage)


@pytest.fixture(scope="session")
def moto_session() -> Iterator[None]:
    """One moto mock for the session, with the table and keyring provisioned once.

    (Starting moto resets boto3's default session, and with it botocore's cache of service
    models: a mock per test cost about 0.3 s of JSON parsing each.)"""
    from chalicelib.wiring import reset_services
    from tether import provision

    with pytest.MonkeyPatch.context() as patch:
        _set_test_env(patch)
        _share_service_models(patch)
        _track_current_secret_versions(patch)
        with mock_aws():
            reset_services()
            provision.ensure_deployment()
            yield
    reset_services()


@pytest.fixture
def aws_env(moto_session: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Moto for every AWS call: an empty table, the keyring, and no other secrets."""
    import boto3

    from chalicelib.wiring import get_services, reset_services

    _set_test_env(monkeypatch)
    reset_services()
    table = boto3.resource("dynamodb").Table(get_services().settings.table_name)
    scan: dict[str, Any] = {"ProjectionExpression": "PK, SK"}
    with table.batch_writer() as batch:
        while True:
            page = table.scan(**scan)
            for item in page["Items"]:
                batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    secrets = boto3.client("secretsmanager")
    keyring = get_services().settings.data_keys_secret_id
    for page in secrets.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            if secret["Name"] != keyring:
                secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    yield
    reset_services()


@dataclass
class Response:
    """What a test sees of an HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Api:
    """chalice.test.Client with JSON helpers; every response is shown to the secret watch."""

    client: Client
    watch: SecretWatch

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        sent = {"Content-Type": "application/json"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        payload: bytes | str | None = raw
        if body is not None:
            payload = json.dumps(body)
        result = self.client.http.request(method, path, headers=sent, body=payload or b"")
        response = Response(result.status_code, dict(result.headers), result.body)
        self.watch.seen.append(response.body.decode("utf-8", "replace"))
        self.watch.seen.append(json.dumps(response.headers))
        return response


@pytest.fixture
def api(aws_env: None, secret_watch: SecretWatch) -> Iterator[Api]:
    """The app behind chalice's test client, on moto."""
    from app import app

    # The test client would export the deploy config's environment variables into every
    # request; a config of its own keeps the tests' settings in force.
    with Client(app, project_dir=str(CHALICE_TEST_PROJECT)) as client:
        yield Api(client, secret_watch)


@dataclass
class ProjectHandle:
    """A created project with its secret key and a registered signing key."""

    id: str
    secret_key: str = field(repr=False)
    private_key_pem: str = field(repr=False)
    kid: str
    watch: SecretWatch = field(repr=False)

    def token(self, user_id: str = "user-1", ttl: int = 600, **kwargs: Any) -> str:
        """A valid user token for this project."""
        token = sign_user_token(self.private_key_pem, user_id, ttl, **kwargs)
        self.watch.add(token)
        return token

    @property
    def admin(self) -> dict[str, str]:
        """Headers carrying the project secret key."""
        return {"Authorization": f"Bearer {self.secret_key}"}


@pytest.fixture
def make_project(aws_env: None, secret_watch: SecretWatch) -> Any:
    """Factory: a new project with its own signing key (key index picks a pre-generated key)."""
    from chalicelib.services.projects import create_project
    from chalicelib.services.signing_keys import register_signing_key
    from chalicelib.wiring import get_services

    counter = iter(range(100))

    def factory(name: str = "Test project", key_index: int | None = None) -> ProjectHandle:
        services = get_services()
        created = create_project(services.projects, name)
        private_pem = rsa_private_key(next(counter) if key_index is None else key_index)
        key = register_signing_key(services.projects, created.project.id, public_key_pem(private_pem))
        secret_watch.add(created.secret_key, private_pem)
        return ProjectHandle(created.project.id, created.secret_key, private_pem, key.kid, secret_watch)

    return factory


@pytest.fixture
def project(make_project: Any) -> ProjectHandle:
    """One project, ready for SDK and admin calls."""
    handle: ProjectHandle = make_project()
    return handle


def pytest_configure(config: pytest.Config) -> None:
    # Tests never talk to a real AWS account, whatever the developer's shell holds.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    # The same logging policy as the deployed app, from the first AWS call on.
    from chalicelib.logging_setup import configure_logging

    configure_logging()


@pytest.fixture
def sandbox(aws_env: None, monkeypatch: pytest.MonkeyPatch, secret_watch: SecretWatch) -> Iterator[Any]:
    """A running WordPress.com sandbox, configured as the deployment's provider with dev keys.

    At teardown every token and code it issued, and the dev client secret, are checked against
    the test's logs and responses.
    """
    from chalicelib.wiring import reset_services
    from tether import provision
    from wpcom_sandbox.server import WordPressSandbox

    server = WordPressSandbox()
    server.start()
    monkeypatch.setenv("TETHER_WPCOM_ORIGIN", server.origin)
    monkeypatch.setenv("TETHER_PROVIDER_TIMEOUT_SECONDS", "1.5")
    reset_services()
    client = server.state.register_client("Tether dev keys", TEST_ENV["TETHER_PUBLIC_URL"] + "/oauth/callback")
    provision.store_dev_keys(client.client_id, client.client_secret)
    secret_watch.add(client.client_secret)
    try:
        yield server
    finally:
        for issued in server.state.issued_tokens():
            secret_watch.add(issued.token)
            if issued.code:
                secret_watch.add(issued.code)
        server.stop()


@pytest.fixture
def engine(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto runs the state machines; the step runner's Lambda is served in this process."""
    from app import schedule_dispatcher, step_runner
    from chalicelib.config import get_settings
    from chalicelib.wiring import get_services, reset_services
    from tether import local_lambda

    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setenv("TETHER_WORKFLOW_RETRY_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("TETHER_WORKFLOW_SYNC_TIMEOUT_SECONDS", "20")
    uninstall = local_lambda.install(
        {"step_runner": step_runner, "schedule_dispatcher": schedule_dispatcher},
        sync_timeout=lambda: get_settings().workflow_sync_timeout_seconds,
    )
    reset_services()
    get_services()
    try:
        yield
    finally:
        uninstall()
        reset_services()
