"""The `tether` CLI against moto: projects create, token, keys rotate."""

from __future__ import annotations

import json
from typing import Any

import boto3
import jwt
from click.testing import CliRunner

from chalicelib.adapters import keys
from chalicelib.adapters.repositories import SEALED_ATTRIBUTE, SEALED_PROJECT_ATTRIBUTE, SEALED_RECORD_ATTRIBUTE
from chalicelib.services.projects import hash_secret_key
from chalicelib.services.user_tokens import DEFAULT_MAX_LIFETIME_SECONDS
from chalicelib.wiring import get_services
from tests.conftest import Api, ProjectHandle
from tether.cli import MAX_TOKEN_TTL_SECONDS, cli


def test_projects_create_prints_key_once_and_stores_only_its_hash(api: Api, secret_watch: Any) -> None:
    result = CliRunner().invoke(cli, ["projects", "create", "--name", "Acme"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    secret_watch.add(printed["projectSecretKey"])
    item = boto3.resource("dynamodb").Table("tether-test").get_item(Key=keys.project(printed["projectId"]).as_item())
    stored = item["Item"]
    assert stored["secretKeyHash"] == hash_secret_key(printed["projectSecretKey"])
    assert printed["projectSecretKey"] not in repr(stored)
    # The printed key works on the admin API.
    response = api.call(
        "GET", f"/projects/{printed['projectId']}", headers={"Authorization": f"Bearer {printed['projectSecretKey']}"}
    )
    assert response.status == 200
    assert response.json["name"] == "Acme"
    # Shown in the CLI output, which is not a log: drop it from this check's view.
    secret_watch.secrets.discard(printed["projectSecretKey"])


def test_projects_create_rejects_blank_name(aws_env: None) -> None:
    result = CliRunner().invoke(cli, ["projects", "create", "--name", "   "])
    assert result.exit_code != 0
    assert "name" in result.output


def test_token_command_signs_a_verifiable_token(tmp_path: Any, api: Api, project: ProjectHandle) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(project.private_key_pem)
    result = CliRunner().invoke(
        cli, ["token", "--project", project.id, "--user", "zoe", "--ttl", "120", "--key", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    project.watch.add(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "zoe"
    assert claims["exp"] - claims["iat"] == 120
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json["id"] == "zoe"


def test_token_command_refuses_a_ttl_the_api_would_refuse(tmp_path: Any, project: ProjectHandle) -> None:
    assert MAX_TOKEN_TTL_SECONDS == DEFAULT_MAX_LIFETIME_SECONDS
    key_file = tmp_path / "key.pem"
    key_file.write_text(project.private_key_pem)
    args = ["token", "--project", project.id, "--user", "zoe", "--key", str(key_file), "--ttl"]
    too_long = CliRunner().invoke(cli, [*args, str(MAX_TOKEN_TTL_SECONDS + 1)])
    assert too_long.exit_code == 2
    assert "--ttl" in too_long.output
    assert CliRunner().invoke(cli, [*args, str(MAX_TOKEN_TTL_SECONDS)]).exit_code == 0


def test_token_command_needs_a_key(aws_env: None) -> None:
    result = CliRunner().invoke(cli, ["token", "--project", "p", "--user", "u"])
    assert result.exit_code != 0
    assert "--key" in result.output


def _store_sealed(index: int, project_id: str) -> tuple[dict[str, str], str]:
    """Write an item carrying a sealed value, the way repositories of encrypted records do."""
    services = get_services()
    record_id = f"cred-{index}"
    plaintext = f"access-token-{index}-{'z' * 20}"
    key = keys.credential(project_id, "user", record_id)
    services.sealed_items._table.put_item(
        Item={
            **key.as_item(),
            SEALED_ATTRIBUTE: services.encryptor.seal(plaintext, project_id=project_id, record_id=record_id),
            SEALED_PROJECT_ATTRIBUTE: project_id,
            SEALED_RECORD_ATTRIBUTE: record_id,
        }
    )
    return key.as_item(), plaintext


def test_keys_rotate_adds_a_key_and_reencrypts_records(aws_env: None, secret_watch: Any) -> None:
    services = get_services()
    old_kid = services.encryptor._load_keyring().current_key_id
    stored = [_store_sealed(i, "proj-1") for i in range(3)]
    secret_watch.add(*(plaintext for _, plaintext in stored))

    result = CliRunner().invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["reencrypted"] == 3
    assert report["currentKeyId"] != old_kid

    services.secrets.invalidate()
    table = boto3.resource("dynamodb").Table("tether-test")
    for key, plaintext in stored:
        item = table.get_item(Key=key)["Item"]
        assert item[SEALED_ATTRIBUTE]["kid"] == report["currentKeyId"]
        assert plaintext not in repr(item)
        opened = services.encryptor.open(item[SEALED_ATTRIBUTE], project_id="proj-1", record_id=key["SK"].split("#")[1])
        assert opened == plaintext

    # Running it again rotates again; the previous key's values are re-encrypted once more.
    again = json.loads(CliRunner().invoke(cli, ["keys", "rotate"]).stdout)
    assert again["reencrypted"] == 3
    assert again["currentKeyId"] != report["currentKeyId"]


def test_rotation_skips_a_value_changed_meanwhile(aws_env: None) -> None:
    from chalicelib.services.data_keys import rotate_data_keys

    services = get_services()
    _store_sealed(0, "proj-2")
    original_replace = services.sealed_items.replace_sealed

    def racing_replace(item: dict[str, Any], new_sealed: dict[str, Any]) -> bool:
        # Another writer re-seals the record between the scan and the swap.
        _store_sealed(0, "proj-2")
        return original_replace(item, new_sealed)

    services.sealed_items.replace_sealed = racing_replace  # type: ignore[method-assign]
    report = rotate_data_keys(services.secrets, services.settings.data_keys_secret_id, services.sealed_items)
    assert report.changed_meanwhile == 1
    assert report.reencrypted == 0


def test_dev_keys_set_stores_the_secret(aws_env: None, secret_watch: Any) -> None:
    secret = "dev-secret-" + "d" * 30
    secret_watch.add(secret)
    result = CliRunner().invoke(cli, ["dev-keys", "set", "--client-id", "4242"], input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    stored = boto3.client("secretsmanager").get_secret_value(SecretId="tether/test/dev-keys")["SecretString"]
    assert json.loads(stored) == {"wordpress": {"clientId": "4242", "clientSecret": secret}}
