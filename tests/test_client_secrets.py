"""OAuth client secrets survive partial failures, and a changed secret is picked up at once.

Faults are injected where AWS would fail: a DynamoDB write of the settings record, a Secrets
Manager delete. The WordPress.com sandbox checks every client id and secret pair Tether uses.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters import aws, keys
from chalicelib.config import get_settings
from chalicelib.services.integrations import SettingsInput, put_integration_settings
from chalicelib.wiring import Services, get_services, reset_services
from tests import connect_flow
from tests.conftest import TEST_ENV, Api, ProjectHandle, SecretWatch
from tests.test_admin_api import client_secrets
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox

REDIRECT_URI = TEST_ENV["TETHER_PUBLIC_URL"] + "/oauth/callback"


def own_client(api: Api, project: ProjectHandle, sandbox: WordPressSandbox, watch: SecretWatch) -> Any:
    """Register an app at the sandbox and configure the project to use it."""
    client = sandbox.state.register_client("Customer app", REDIRECT_URI)
    watch.add(client.client_secret)
    body = {"clientId": client.client_id, "clientSecret": client.client_secret, "scopes": [], "active": True}
    assert api.call("PUT", settings_path(project), body=body, headers=project.admin).status == 200
    return client


def settings_path(project: ProjectHandle) -> str:
    return f"/projects/{project.id}/integrations/wordpress"


def new_sandbox_secret(sandbox: WordPressSandbox, client_id: str, watch: SecretWatch) -> str:
    """The customer regenerates the app's secret at the provider: the old one stops working."""
    secret = secrets.token_urlsafe(48)
    watch.add(secret)
    with sandbox.state.lock:
        sandbox.state.clients[client_id] = dataclasses.replace(sandbox.state.clients[client_id], client_secret=secret)
    return secret


def test_a_failed_settings_write_keeps_the_old_client_paired_with_its_secret(
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    secret_watch: SecretWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = own_client(api, project, sandbox, secret_watch)
    connect_flow.connect(api, project, sandbox, "alice")
    second = sandbox.state.register_client("Another app", REDIRECT_URI)
    secret_watch.add(second.client_secret)

    table = aws.dynamodb_table(get_settings().table_name)
    put_item = table.put_item
    settings_key = keys.integration(project.id, "wordpress").as_item()

    def failing_put_item(**kwargs: Any) -> Any:
        if {k: kwargs["Item"].get(k) for k in settings_key} == settings_key:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "PutItem")
        return put_item(**kwargs)

    monkeypatch.setattr(table, "put_item", failing_put_item)
    body = {"clientId": second.client_id, "clientSecret": second.client_secret, "scopes": [], "active": True}
    failed = api.call("PUT", settings_path(project), body=body, headers=project.admin)
    assert failed.status == 502
    assert failed.json["code"] == "storage_unavailable"
    monkeypatch.undo()

    assert api.call("GET", settings_path(project), headers=project.admin).json["clientId"] == first.client_id
    # The sandbox accepts only the first app's id with the first app's secret.
    connect_flow.connect(api, project, sandbox, "bob")
    assert [t.client_id for t in sandbox.state.issued_tokens()] == [first.client_id, first.client_id]
    # The secret stored for the failed write is not left live.
    live = client_secrets(project, include_deleted=False)
    assert len(live) == 1
    assert boto3.client("secretsmanager").get_secret_value(SecretId=next(iter(live)))["SecretString"] == (
        first.client_secret
    )


def test_a_failed_delete_is_retried_by_the_next_write(
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    secret_watch: SecretWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = own_client(api, project, sandbox, secret_watch)
    (first_name,) = client_secrets(project)
    renewed = new_sandbox_secret(sandbox, client.client_id, secret_watch)

    secrets_manager = aws.secretsmanager()

    def failing_delete(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "injected"}}, "DeleteSecret")

    monkeypatch.setattr(secrets_manager, "delete_secret", failing_delete)
    body = {"clientId": client.client_id, "clientSecret": renewed, "scopes": [], "active": True}
    put = api.call("PUT", settings_path(project), body=body, headers=project.admin)
    assert put.status == 200, put.body  # the settings changed; only the clean-up is late
    monkeypatch.undo()
    assert set(client_secrets(project, include_deleted=False)) > {first_name}
    connect_flow.connect(api, project, sandbox, "alice")  # with the renewed secret

    keep = {"clientId": client.client_id, "scopes": ["posts"], "active": True}
    assert api.call("PUT", settings_path(project), body=keep, headers=project.admin).status == 200
    live = client_secrets(project, include_deleted=False)
    assert first_name not in live
    assert "DeletedDate" in client_secrets(project)[first_name]  # recoverable, not gone
    assert [boto3.client("secretsmanager").get_secret_value(SecretId=n)["SecretString"] for n in live] == [renewed]
    connect_flow.connect(api, project, sandbox, "bob")


def test_connect_picks_up_a_secret_changed_by_another_container(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    client = own_client(api, project, sandbox, secret_watch)
    connect_flow.connect(api, project, sandbox, "alice")  # this container now caches the settings and secret
    renewed = new_sandbox_secret(sandbox, client.client_id, secret_watch)

    other = Services(get_settings())
    config = other.projects.load_config(project.id)
    assert config is not None
    put_integration_settings(
        other.projects,
        other.secrets,
        other.settings.client_secret_id(project.id, "wordpress"),
        config,
        "wordpress",
        SettingsInput(client_id=client.client_id, client_secret=renewed, keep_secret=False, scopes=(), active=True),
    )
    assert get_services().project_configs.get(project.id) is not None  # still the cached, older settings

    connect_flow.connect(api, project, sandbox, "bob")


def test_connect_picks_up_new_development_keys(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect_flow.connect(api, project, sandbox, "alice")  # this container caches the dev keys
    dev = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=get_settings().dev_keys_secret_id)["SecretString"]
    )["wordpress"]
    renewed = new_sandbox_secret(sandbox, dev["clientId"], secret_watch)
    # `tether dev-keys set`, run by the operator elsewhere.
    boto3.client("secretsmanager").put_secret_value(
        SecretId=get_settings().dev_keys_secret_id,
        SecretString=json.dumps({"wordpress": {"clientId": dev["clientId"], "clientSecret": renewed}}),
    )
    connect_flow.connect(api, project, sandbox, "bob")


def test_invalid_client_that_a_fresh_read_does_not_fix_is_reported(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    client = own_client(api, project, sandbox, secret_watch)
    new_sandbox_secret(sandbox, client.client_id, secret_watch)  # and nobody tells Tether
    attempt = connect_flow.start(api, project, sandbox, "alice")
    page = connect_flow.callback(api, attempt)
    assert page.status == 400
    session = api.call(
        "GET", f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}", token=attempt.token
    ).json
    assert session["error"]["code"] == "oauth_invalid_client"
    token_requests = [r for r in sandbox.state.recorded_requests() if r.path == "/oauth2/token"]
    assert len(token_requests) == 1  # reading the secret again gave the same client: no pointless retry


def legacy_client(project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch) -> Any:
    """A settings record and secret as earlier releases stored them: the secret under one fixed
    name, its value replaced in place."""
    client = sandbox.state.register_client("Customer app", REDIRECT_URI)
    secret_watch.add(client.client_secret)
    legacy_name = get_settings().client_secret_id(project.id, "wordpress")
    boto3.client("secretsmanager").create_secret(Name=legacy_name, SecretString=client.client_secret)
    boto3.resource("dynamodb").Table(get_settings().table_name).put_item(
        Item={
            **keys.integration(project.id, "wordpress").as_item(),
            "id": "legacy-integration-id",
            "type": "wordpress",
            "clientId": client.client_id,
            "hasClientSecret": True,
            "scopes": [],
            "active": True,
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    )
    return client


def test_settings_written_before_versioned_secrets_keep_working_and_migrate(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    client = legacy_client(project, sandbox, secret_watch)
    legacy_name = get_settings().client_secret_id(project.id, "wordpress")
    connect_flow.connect(api, project, sandbox, "alice")

    renewed = new_sandbox_secret(sandbox, client.client_id, secret_watch)
    body = {"clientId": client.client_id, "clientSecret": renewed, "scopes": [], "active": True}
    assert api.call("PUT", settings_path(project), body=body, headers=project.admin).status == 200
    assert "DeletedDate" in client_secrets(project)[legacy_name]
    connect_flow.connect(api, project, sandbox, "bob")


def test_a_legacy_secret_changed_in_place_is_picked_up_at_once(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    client = legacy_client(project, sandbox, secret_watch)
    connect_flow.connect(api, project, sandbox, "alice")  # this container caches the secret
    renewed = new_sandbox_secret(sandbox, client.client_id, secret_watch)
    # The operator pastes the regenerated secret over the old one (the console, an old CLI).
    legacy_name = get_settings().client_secret_id(project.id, "wordpress")
    boto3.client("secretsmanager").put_secret_value(SecretId=legacy_name, SecretString=renewed)
    connect_flow.connect(api, project, sandbox, "bob")  # invalid_client, then a fresh read: connected
    token_requests = [r for r in sandbox.state.recorded_requests() if r.path == "/oauth2/token"]
    assert len(token_requests) == 3


def test_a_client_secret_deleted_behind_tethers_back_is_a_409_that_says_so(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    own_client(api, project, sandbox, secret_watch)
    [name] = client_secrets(project)
    boto3.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    reset_services()  # a container that has not read the secret yet
    token = project.token("alice")
    response = connect_flow.build_oauth(api, project, token, "lost-secret")
    assert_refused(
        response,
        status=409,
        code="client_secret_missing",
        message="The project's WordPress.com client id or secret is missing; store them again.",
    )
