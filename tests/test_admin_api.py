"""Admin API: project secret key auth, integration settings, signing keys."""

from __future__ import annotations

from typing import Any

import boto3

from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from tether.tokens import public_key_pem


def integration_path(project: ProjectHandle, integration: str = "wordpress") -> str:
    return f"/projects/{project.id}/integrations/{integration}"


def test_wrong_admin_key(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", integration_path(project), headers={"Authorization": "Bearer tsk_wrong"})
    assert_refused(response, code="invalid_project_key")


def test_missing_admin_key(api: Api, project: ProjectHandle) -> None:
    assert_refused(api.call("GET", integration_path(project)), code="missing_authorization")


def test_user_token_is_not_an_admin_key(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", integration_path(project), token=project.token())
    assert_refused(response, code="invalid_project_key")


def test_project_a_admin_key_on_project_b(api: Api, make_project: Any) -> None:
    project_a = make_project("A")
    project_b = make_project("B")
    for method, path, body in [
        ("GET", integration_path(project_b), None),
        ("PUT", integration_path(project_b), {"clientId": None, "scopes": [], "active": False}),
        ("GET", f"/projects/{project_b.id}/signing-keys", None),
        ("POST", f"/projects/{project_b.id}/signing-keys", {"publicKeyPem": "x"}),
        ("DELETE", f"/projects/{project_b.id}/signing-keys/{project_b.kid}", None),
        ("GET", f"/projects/{project_b.id}", None),
    ]:
        response = api.call(method, path, body=body, headers=project_a.admin)
        assert_refused(response, code="invalid_project_key")
    # Nothing changed in B.
    keys = api.call("GET", f"/projects/{project_b.id}/signing-keys", headers=project_b.admin)
    assert [k["kid"] for k in keys.json["signingKeys"]] == [project_b.kid]


def test_unknown_project_is_indistinguishable_from_wrong_key(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", "/projects/00000000-0000-4000-8000-000000000000", headers=project.admin)
    assert_refused(response, code="invalid_project_key")


def test_get_project(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", f"/projects/{project.id}", headers=project.admin)
    assert response.status == 200
    assert response.json["id"] == project.id
    assert "secretKeyHash" not in response.json


def client_secrets(project: ProjectHandle, include_deleted: bool = True) -> dict[str, Any]:
    """The project's client secrets in Secrets Manager, by name (those scheduled for deletion too)."""
    prefix = f"tether/test/projects/{project.id}/"
    pages = boto3.client("secretsmanager").get_paginator("list_secrets").paginate(IncludePlannedDeletion=True)
    found = {s["Name"]: s for page in pages for s in page["SecretList"] if s["Name"].startswith(prefix)}
    return {name: s for name, s in found.items() if include_deleted or "DeletedDate" not in s}


def test_default_integration_settings_use_dev_keys(api: Api, project: ProjectHandle, sandbox: Any) -> None:
    response = api.call("GET", integration_path(project), headers=project.admin)
    assert response.status == 200
    body = response.json
    assert body["clientId"] is None
    assert body["clientSecret"] is None
    assert body["usesDevelopmentKeys"] is True
    assert body["active"] is True


def test_put_integration_stores_secret_in_secrets_manager_and_masks_it(
    api: Api, project: ProjectHandle, secret_watch: Any
) -> None:
    secret = "wpcom-client-secret-" + "s" * 40
    secret_watch.add(secret)
    body = {"clientId": "12345", "clientSecret": secret, "scopes": ["posts", "media"], "active": True}
    put = api.call("PUT", integration_path(project), body=body, headers=project.admin)
    assert put.status == 200, put.body
    assert put.json["clientSecret"] == "********"
    assert put.json["usesDevelopmentKeys"] is False
    got = api.call("GET", integration_path(project), headers=project.admin).json
    assert got["clientId"] == "12345"
    assert got["clientSecret"] == "********"
    assert got["scopes"] == ["posts", "media"]
    (name,) = client_secrets(project)  # one secret per value, named by the settings record
    assert name.startswith(f"tether/test/projects/{project.id}/integrations/wordpress/client-secret/")
    assert boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == secret
    # The table holds no copy of the secret.
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    assert secret not in repr(items)
    # The SDK sees the project's own keys in use now.
    sdk = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token()).json
    assert sdk[0]["usesDevelopmentKeys"] is False


def test_put_without_secret_keeps_stored_secret_and_null_clears_it(
    api: Api, project: ProjectHandle, sandbox: Any
) -> None:
    first = {"clientId": "1", "clientSecret": "first-secret-value", "scopes": [], "active": True}
    assert api.call("PUT", integration_path(project), body=first, headers=project.admin).status == 200
    keep = {"clientId": "1", "scopes": ["posts"], "active": True}
    kept = api.call("PUT", integration_path(project), body=keep, headers=project.admin)
    assert kept.json["clientSecret"] == "********"
    cleared = api.call(
        "PUT",
        integration_path(project),
        body={"clientId": None, "clientSecret": None, "scopes": [], "active": True},
        headers=project.admin,
    )
    assert cleared.status == 200
    assert cleared.json["clientSecret"] is None
    assert cleared.json["usesDevelopmentKeys"] is True
    # Deleted with a recovery window, never for good at once.
    (deleted,) = client_secrets(project).values()
    assert "DeletedDate" in deleted
    assert client_secrets(project, include_deleted=False) == {}


def test_inactive_integration_is_reported_to_the_sdk(api: Api, project: ProjectHandle) -> None:
    body = {"clientId": None, "scopes": [], "active": False}
    assert api.call("PUT", integration_path(project), body=body, headers=project.admin).status == 200
    sdk = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token()).json
    assert sdk[0]["isActive"] is False


def test_signing_keys_several_at_once(api: Api, project: ProjectHandle) -> None:
    from tests.conftest import rsa_private_key

    second = rsa_private_key(50)
    added = api.call(
        "POST",
        f"/projects/{project.id}/signing-keys",
        body={"publicKeyPem": public_key_pem(second)},
        headers=project.admin,
    )
    assert added.status == 201
    kid = added.json["kid"]
    listed = api.call("GET", f"/projects/{project.id}/signing-keys", headers=project.admin).json["signingKeys"]
    assert {k["kid"] for k in listed} == {project.kid, kid}
    # Tokens signed by either key verify.
    from tether.tokens import sign_user_token

    token = sign_user_token(second, "u2", 60)
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).status == 200
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token()).status == 200
    # Registering the same key twice is a conflict.
    again = api.call(
        "POST",
        f"/projects/{project.id}/signing-keys",
        body={"publicKeyPem": public_key_pem(second)},
        headers=project.admin,
    )
    assert_refused(again, status=409, code="signing_key_exists")


def test_delete_unknown_signing_key(api: Api, project: ProjectHandle) -> None:
    response = api.call("DELETE", f"/projects/{project.id}/signing-keys/nope", headers=project.admin)
    assert_refused(response, status=404, code="signing_key_not_found")
