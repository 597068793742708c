"""The `tether` command line: local stack, projects, user tokens and key rotation."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from chalicelib.domain.models import ProjectConfig

DEFAULT_STATE_FILE = Path(".tether/dev-state.json")
# The API refuses user tokens living longer than this unless TETHER_MAX_TOKEN_LIFETIME_SECONDS says more.
MAX_TOKEN_TTL_SECONDS = 24 * 3600


@click.group()
def cli() -> None:
    """Tether: self-hosted embedded integrations on AWS."""
    from chalicelib.logging_setup import configure_logging

    configure_logging()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="API port (0 picks a free one).")
@click.option("--wpcom-origin", default=None, help="Use this WordPress.com-compatible origin instead of the sandbox.")
@click.option("--wpcom-port", default=None, type=int, help="Sandbox port [default: API port + 1, or free].")
@click.option(
    "--state-file",
    default=str(DEFAULT_STATE_FILE),
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the stack's URLs and dev keys (JSON).",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Also allow this web origin (your app, e.g. http://localhost:3000) beside the demo page's. Repeatable.",
)
def dev(
    host: str,
    port: int,
    wpcom_origin: str | None,
    wpcom_port: int | None,
    state_file: str,
    allow_origins: tuple[str, ...],
) -> None:
    """Run the local stack (moto, WordPress.com sandbox, API) until interrupted. Data is in memory."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import ipaddress

    from tether.devstack import start_dev_stack

    extra_origins = _origins_or_exit(list(allow_origins))

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        click.echo(
            f"WARNING: serving the local stack on {host}, not loopback. It is a development stack: its demo "
            "page hands a user token to anyone who loads it. Keep it on 127.0.0.1 unless you know why not.",
            err=True,
        )
    if wpcom_port is None:
        wpcom_port = port + 1 if port else 0
    stack = start_dev_stack(host, port, wpcom_origin, wpcom_port, Path(state_file), extra_origins)
    state = stack.state
    click.echo(
        "\n".join(
            [
                "",
                "Tether local stack is running (all data is in memory and lost on exit).",
                f"  API:                {state['apiUrl']}",
                f"  WordPress.com:      {state['wpcomOrigin']}" + ("  (sandbox)" if stack.sandbox is not None else ""),
                f"  Dev project id:     {state['projectId']}",
                f"  Allowed origins:    {', '.join(state['allowedOrigins'])}  (add yours: --allow-origin)",
                f"  Demo page:          {state['apiUrl']}/demo/  (connect, list sites, create a post)",
                f"  State file:         {state_file}  (project secret key, signing key; keep private)",
                "",
                "Get a user token and call the SDK API:",
                f"  TOKEN=$(.venv/bin/tether token --state-file {state_file} --user alice)",
                f'  curl -H "Authorization: Bearer $TOKEN" {state["apiUrl"]}/projects/{state["projectId"]}/sdk/me',
                "",
                "Press Ctrl+C to stop.",
            ]
        )
    )
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


@cli.group()
def projects() -> None:
    """Manage projects (talks to the configured AWS account directly)."""


@projects.command("create")
@click.option("--name", required=True, help="A name for the project.")
def projects_create(name: str) -> None:
    """Create a project and print its id and secret key (shown once; only its hash is stored)."""
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.projects import create_project
    from chalicelib.wiring import get_services
    from tether import provision

    try:
        provision.ensure_deployment()
        created = create_project(get_services().projects, name)
    except TetherError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps({"projectId": created.project.id, "projectSecretKey": created.secret_key}, indent=2))
    click.echo("Store the secret key now: Tether keeps only its hash.", err=True)


def _origins_or_exit(values: list[str]) -> tuple[str, ...]:
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.allowed_origins import canonical_origins

    try:
        return canonical_origins(values)
    except TetherError as error:
        raise click.BadParameter(error.message.replace("allowedOrigins", "origin"), param_hint="ORIGIN") from None


@projects.group("origins")
def projects_origins() -> None:
    """The web origins allowed to use a project's SDK routes and open its connect popup."""


def _project_config(project_id: str) -> ProjectConfig:
    from chalicelib.domain.errors import TetherError
    from chalicelib.wiring import get_services

    try:
        config = get_services().projects.load_config(project_id)
    except TetherError as error:
        raise click.ClickException(error.message) from None
    if config is None:
        raise click.ClickException(f"No project {project_id}.")
    return config


@projects_origins.command("show")
@click.option("--project", "project_id", required=True, help="Project id.")
def projects_origins_show(project_id: str) -> None:
    """Print the allowed origins (an empty list: any origin may use the project)."""
    from chalicelib.services.allowed_origins import allowed_origins_view

    config = _project_config(project_id)
    click.echo(json.dumps(allowed_origins_view(config.allowed_origins), indent=2))


@projects_origins.command("set")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.argument("origins", nargs=-1, required=True, metavar="ORIGIN...")
def projects_origins_set(project_id: str, origins: tuple[str, ...]) -> None:
    """Replace the allowed origins, e.g. `tether projects origins set --project P https://app.example.com`."""
    _store_origins(project_id, _origins_or_exit(list(origins)))


@projects_origins.command("clear")
@click.option("--project", "project_id", required=True, help="Project id.")
def projects_origins_clear(project_id: str) -> None:
    """Allow any origin again (CORS `*`; any page may open the connect popup: see README)."""
    _store_origins(project_id, ())


def _store_origins(project_id: str, origins: tuple[str, ...]) -> None:
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.allowed_origins import allowed_origins_view, set_allowed_origins
    from chalicelib.wiring import get_services

    _project_config(project_id)
    services = get_services()
    try:
        saved = set_allowed_origins(services.projects, project_id, origins)
    except TetherError as error:
        raise click.ClickException(error.message) from None
    services.project_configs.invalidate(project_id)
    click.echo(json.dumps(allowed_origins_view(saved), indent=2))
    click.echo("Running API containers apply it within TETHER_CONFIG_CACHE_SECONDS (30 s by default).", err=True)


@cli.command()
@click.option("--project", "project_id", default=None, help="Project id (default: from --state-file).")
@click.option("--user", "user_id", required=True, help="The end user's id (the token's `sub`).")
@click.option(
    "--ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(1, MAX_TOKEN_TTL_SECONDS),
    help="Lifetime (s); at most the API's default cap on user tokens (24 h).",
)
@click.option("--key", "key_file", default=None, type=click.Path(exists=True, dir_okay=False), help="Private key PEM.")
@click.option(
    "--state-file", default=None, type=click.Path(exists=True, dir_okay=False), help="Use the dev stack's key."
)
def token(project_id: str | None, user_id: str, ttl: int, key_file: str | None, state_file: str | None) -> None:
    """Print a signed user token (what the customer's backend issues per end user)."""
    from tether.tokens import sign_user_token

    if key_file is not None:
        private_pem = Path(key_file).read_text()
    elif state_file is not None:
        state = json.loads(Path(state_file).read_text())
        private_pem = state["signingPrivateKeyPem"]
        project_id = project_id or state["projectId"]
    else:
        raise click.UsageError("Give --key PEMFILE (or --state-file of a running `tether dev`).")
    if project_id is None:
        raise click.UsageError("Give --project.")
    try:
        click.echo(sign_user_token(private_pem, user_id, ttl))
    except ValueError as exc:
        raise click.ClickException(f"Cannot sign with this key: {exc}") from None


@cli.command("cloudformation")
@click.option("--stage", default="prod", show_default=True, help="The chalice stage to read the table name from.")
@click.option(
    "--policy", is_flag=True, help="Print the Lambda role's IAM policy (.chalice/policy-<stage>.json) instead."
)
def cloudformation(stage: str, policy: bool) -> None:
    """Print resources to merge into `chalice package` (table, JSON gateway errors)."""
    from tether.cloudformation import merge_template, runtime_policy

    config = json.loads(Path(".chalice/config.json").read_text())
    stages = config.get("stages", {})
    if stage not in stages:
        raise click.ClickException(f"No stage '{stage}' in .chalice/config.json.")
    variables = {**config.get("environment_variables", {}), **stages[stage].get("environment_variables", {})}
    table_name = variables.get("TETHER_TABLE", f"tether-{stage}")
    if policy:
        prefix = variables.get("TETHER_SECRET_PREFIX", f"tether/{stage}")
        click.echo(json.dumps(runtime_policy(table_name, prefix), indent=2))
        return
    click.echo(json.dumps(merge_template(table_name), indent=2))


@cli.group("dev-keys")
def dev_keys() -> None:
    """The deployment's development OAuth keys (used by projects that leave theirs blank)."""


@dev_keys.command("set")
@click.option("--client-id", required=True, help="Client ID of the deployment's WordPress.com app.")
@click.option("--client-secret", prompt=True, hide_input=True, help="Its client secret (prompted for when not given).")
def dev_keys_set(client_id: str, client_secret: str) -> None:
    """Store the development keys in Secrets Manager (`<prefix>/dev-keys`)."""
    from tether import provision

    if not client_id.strip() or not client_secret.strip():
        raise click.ClickException("Both the client id and the client secret are needed.")
    provision.ensure_deployment()
    provision.store_dev_keys(client_id.strip(), client_secret.strip())
    click.echo("Development keys stored.")


@cli.group()
def keys() -> None:
    """Manage the deployment's data-encryption keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Add a new data-encryption key and re-encrypt every stored secret with it.

    Safe while the API serves traffic and beside another rotation: no key is ever dropped.
    """
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.data_keys import rotate_data_keys
    from chalicelib.wiring import get_services

    services = get_services()
    try:
        report = rotate_data_keys(services.secrets, services.settings.data_keys_secret_id, services.sealed_items)
    except TetherError as error:
        raise click.ClickException(f"{error.message} ({error.code})") from None
    click.echo(
        json.dumps(
            {
                "currentKeyId": report.new_key_id,
                "reencrypted": report.reencrypted,
                "alreadyCurrent": report.already_current,
                "changedMeanwhile": report.changed_meanwhile,
            },
            indent=2,
        )
    )


def main() -> None:
    """Entry point of the `tether` console script."""
    cli()
