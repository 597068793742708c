"""Configuring a project from the CLI, with the operator's credentials: its WordPress.com app
and its signing keys (what the admin API does, without a project secret key or curl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.conftest import Api, ProjectHandle, rsa_private_key
from tether.cli import cli
from tether.tokens import public_key_pem, sign_user_token


def test_integrations_set_and_show_keep_the_secret_out_of_sight(
    api: Api, project: ProjectHandle, secret_watch: Any
) -> None:
    secret = "wpcom-client-secret-" + "s" * 24
    secret_watch.add(secret)
    args = [
        "integrations",
        "set",
        "--project",
        project.id,
        "--client-id",
        "12345",
        "--scope",
        "posts",
        "--scope",
        "media",
    ]
    result = CliRunner().invoke(cli, args, input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    shown = CliRunner().invoke(cli, ["integrations", "show", "--project", project.id])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert (view["clientId"], view["clientSecret"], view["scopes"], view["active"]) == (
        "12345",
        "********",
        ["posts", "media"],
        True,
    )
    assert view["usesDevelopmentKeys"] is False
    # The admin API sees the same settings.
    served = api.call("GET", f"/projects/{project.id}/integrations/wordpress", headers=project.admin).json
    assert served["clientId"] == "12345"
    # Back to the deployment's development keys.
    back = CliRunner().invoke(cli, ["integrations", "set", "--project", project.id])
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["clientId"] is None
    bad = CliRunner().invoke(cli, ["integrations", "set", "--project", project.id, "--scope", "no spaces"])
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: Each scope")


def test_signing_keys_add_list_remove(api: Api, project: ProjectHandle, tmp_path: Path) -> None:
    private_pem = rsa_private_key(7)
    project.watch.add(private_pem)
    pem_file = tmp_path / "public.pem"
    pem_file.write_text(public_key_pem(private_pem))
    added = CliRunner().invoke(cli, ["signing-keys", "add", "--project", project.id, "--public-key", str(pem_file)])
    assert added.exit_code == 0, added.output
    kid = json.loads(added.stdout)["kid"]
    listed = json.loads(CliRunner().invoke(cli, ["signing-keys", "list", "--project", project.id]).stdout)
    assert kid in [key["kid"] for key in listed["signingKeys"]]

    token = sign_user_token(private_pem, "zoe", 300)
    project.watch.add(token)
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).status == 200

    removed = CliRunner().invoke(cli, ["signing-keys", "remove", "--project", project.id, "--kid", kid])
    assert removed.exit_code == 0, removed.output
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).status == 401
    again = CliRunner().invoke(cli, ["signing-keys", "remove", "--project", project.id, "--kid", kid])
    assert again.exit_code == 1
    assert "has no signing key" in again.output
    not_a_key = tmp_path / "junk.pem"
    not_a_key.write_text("hello")
    junk = CliRunner().invoke(cli, ["signing-keys", "add", "--project", project.id, "--public-key", str(not_a_key)])
    assert junk.exit_code == 1
    assert "Traceback" not in junk.output


def test_projects_list_and_rotate_key(api: Api, make_project: Any, secret_watch: Any) -> None:
    first, second = make_project("First"), make_project("Second")
    listed = CliRunner().invoke(cli, ["projects", "list"])
    assert listed.exit_code == 0, listed.output
    assert sorted((p["name"], p["id"]) for p in json.loads(listed.stdout)) == [
        ("First", first.id),
        ("Second", second.id),
    ]

    rotated = CliRunner().invoke(cli, ["projects", "rotate-key", "--project", first.id])
    assert rotated.exit_code == 0, rotated.output
    new_key = json.loads(rotated.stdout)["projectSecretKey"]
    assert new_key != first.secret_key
    assert api.call("GET", f"/projects/{first.id}", headers=first.admin).status == 401
    assert api.call("GET", f"/projects/{first.id}", headers={"Authorization": f"Bearer {new_key}"}).status == 200
    assert api.call("GET", f"/projects/{second.id}", headers=second.admin).status == 200  # others untouched
    unknown = CliRunner().invoke(cli, ["projects", "rotate-key", "--project", "4b0b7f9e-2c52-4f5c-9d52-2b9a4c1f0e11"])
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "Error: No project 4b0b7f9e-2c52-4f5c-9d52-2b9a4c1f0e11."
