"""The `tether` command line: local stack, projects, user tokens, key rotation, workflows and runs."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tether.aws_target import aws_command, current_names, forget_deployment, record_deployment

if TYPE_CHECKING:
    from chalicelib.domain.models import ProjectConfig
    from tether.client import TetherAdmin
    from tether.cloudformation import TemplateOptions
    from tether.deploy import Packager

F = TypeVar("F", bound=Callable[..., Any])

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

    from tether.devstack import PortInUse, StateFileInUse, start_dev_stack

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
    try:
        stack = start_dev_stack(host, port, wpcom_origin, wpcom_port, Path(state_file), extra_origins)
    except PortInUse as busy:
        hint = " (`make run PORT=N`)" if busy.flag == "--port" else ""
        raise click.ClickException(
            f"Port {busy.port} on {busy.host} is already in use (another `tether dev`?). "
            f"Stop what uses it, or pick another port with {busy.flag} N{hint}."
        ) from None
    except StateFileInUse as taken:
        where = f" (its API: {taken.api_url})" if taken.api_url else ""
        raise click.ClickException(
            f"Another `tether dev` is running with the state file {taken.path}{where}; this one would overwrite "
            "it. Stop that one, or give this one its own file with --state-file PATH."
        ) from None
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
                *(
                    [
                        "Connect alice to a sandbox WordPress.com account without a browser:",
                        f"  .venv/bin/tether connect --state-file {state_file} --user alice --wpcom-user alicebaker",
                        "",
                    ]
                    if stack.sandbox is not None
                    else []
                ),
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


@cli.command("connect")
@click.option("--user", "user_id", required=True, help="The end user (the user token's `sub`) to connect.")
@click.option(
    "--wpcom-user",
    default="alicebaker",
    show_default=True,
    help="The sandbox WordPress.com account to connect (alicebaker, bobortega or carolnguyen).",
)
@click.option(
    "--state-file",
    default=str(DEFAULT_STATE_FILE),
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The running `tether dev`'s state file.",
)
def connect(user_id: str, wpcom_user: str, state_file: str) -> None:
    """Connect a sandbox WordPress.com account for an end user of the running `tether dev`, without
    a browser (the popup's steps over HTTP, the consent answered by the sandbox). Prints the
    credential id."""
    import requests

    from tether.sandbox_connect import connect_over_http
    from tether.tokens import sign_user_token

    try:
        state = json.loads(Path(state_file).read_text())
    except (OSError, ValueError):
        raise click.ClickException(f"Cannot read the state file {state_file}: is `tether dev` running?") from None
    if "devClientId" not in state:
        raise click.ClickException(
            f"This stack uses {state.get('wpcomOrigin')}, not the WordPress.com sandbox: connect through the "
            "browser instead (the demo page, or your app)."
        )
    token = sign_user_token(state["signingPrivateKeyPem"], user_id, 600)
    try:
        credential_id = connect_over_http(state["apiUrl"], state["projectId"], token, wpcom_user)
    except (requests.RequestException, RuntimeError) as exc:
        reason = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
        raise click.ClickException(f"Could not connect {user_id}: {reason}") from None
    click.echo(json.dumps({"userId": user_id, "wpcomUser": wpcom_user, "credentialId": credential_id}))


@cli.group()
def projects() -> None:
    """Manage projects (talks to the configured AWS account directly)."""


def _deployed() -> None:
    """Make sure the selected stage is deployed (its keyring is created when missing)."""
    from tether import provision

    try:
        provision.ensure_deployment(create_table=False)
    except provision.StageNotDeployed as missing:
        names = current_names()
        raise click.ClickException(
            f"No table {missing} in this region: deploy the stage first (tether deploy --stage {names.stage})."
        ) from None


@projects.command("create")
@click.option("--name", required=True, help="A name for the project.")
@aws_command
def projects_create(name: str) -> None:
    """Create a project and print its id and secret key (shown once; only its hash is stored)."""
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.projects import create_project
    from chalicelib.wiring import get_services

    _deployed()
    try:
        created = create_project(get_services().projects, name)
    except TetherError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps({"projectId": created.project.id, "projectSecretKey": created.secret_key}, indent=2))
    click.echo("Store the secret key now: Tether keeps only its hash.", err=True)


@projects.command("list")
@aws_command
def projects_list() -> None:
    """Print every project (id, name, creation date), oldest first."""
    from chalicelib.wiring import get_services

    _deployed()
    found = get_services().projects.list_projects()
    click.echo(json.dumps([{"id": p.id, "name": p.name, "createdAt": p.created_at} for p in found], indent=2))


@projects.command("rotate-key")
@click.option("--project", "project_id", required=True, help="Project id.")
@aws_command
def projects_rotate_key(project_id: str) -> None:
    """Give the project a new secret key, printed once; the old one stops working (running API
    containers: within TETHER_CONFIG_CACHE_SECONDS, 30 s by default)."""
    from chalicelib.services.projects import rotate_secret_key
    from chalicelib.wiring import get_services

    _project_config(project_id)
    services = get_services()
    secret_key = rotate_secret_key(services.projects, project_id)
    services.project_configs.invalidate(project_id)
    click.echo(json.dumps({"projectId": project_id, "projectSecretKey": secret_key}, indent=2))
    click.echo("Store the new secret key now: Tether keeps only its hash.", err=True)


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
@aws_command
def projects_origins_show(project_id: str) -> None:
    """Print the allowed origins (an empty list: any origin may use the project)."""
    from chalicelib.services.allowed_origins import allowed_origins_view

    config = _project_config(project_id)
    click.echo(json.dumps(allowed_origins_view(config.allowed_origins), indent=2))


@projects_origins.command("set")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.argument("origins", nargs=-1, required=True, metavar="ORIGIN...")
@aws_command
def projects_origins_set(project_id: str, origins: tuple[str, ...]) -> None:
    """Replace the allowed origins, e.g. `tether projects origins set --project P https://app.example.com`."""
    _store_origins(project_id, _origins_or_exit(list(origins)))


@projects_origins.command("clear")
@click.option("--project", "project_id", required=True, help="Project id.")
@aws_command
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


@cli.group()
def integrations() -> None:
    """A project's integration settings: its own OAuth app, scopes, on or off."""


@integrations.command("show")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--integration", "integration_type", default="wordpress", show_default=True, help="Integration type.")
@aws_command
def integrations_show(project_id: str, integration_type: str) -> None:
    """Print the settings (the client secret masked)."""
    from chalicelib.domain.errors import TetherError
    from chalicelib.domain.providers import get_provider
    from chalicelib.services import integrations as settings
    from chalicelib.wiring import get_services

    config = _project_config(project_id)
    try:
        provider = get_provider(integration_type)
    except TetherError as error:
        raise click.ClickException(error.message) from None
    services = get_services()
    dev_keys = settings.dev_key_types(services.secrets, services.settings.dev_keys_secret_id)
    click.echo(json.dumps(settings.settings_view(settings.effective_settings(config, provider), dev_keys), indent=2))


@integrations.command("set")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--integration", "integration_type", default="wordpress", show_default=True, help="Integration type.")
@click.option("--client-id", default=None, help="Client ID of your app at the provider (omit: development keys).")
@click.option("--client-secret", default=None, help="Its client secret (prompted for when --client-id is given).")
@click.option("--scope", "scopes", multiple=True, help="An extra OAuth scope (permission). Repeatable.")
@click.option("--inactive", is_flag=True, help="Turn the integration off for the project's users.")
@aws_command
def integrations_set(
    project_id: str,
    integration_type: str,
    client_id: str | None,
    client_secret: str | None,
    scopes: tuple[str, ...],
    inactive: bool,
) -> None:
    """Replace the settings. The client secret goes to Secrets Manager only and is never printed."""
    from chalicelib.domain.errors import TetherError
    from chalicelib.domain.providers import get_provider
    from chalicelib.services import integrations as settings
    from chalicelib.wiring import get_services

    config = _project_config(project_id)
    if client_id is not None and client_secret is None:
        client_secret = click.prompt("Client secret", hide_input=True)
    body: dict[str, Any] = {"clientId": client_id, "scopes": list(scopes), "active": not inactive}
    body["clientSecret"] = client_secret
    services = get_services()
    try:
        provider = get_provider(integration_type)
        saved = settings.put_integration_settings(
            services.projects,
            services.secrets,
            services.settings.client_secret_id(project_id, provider.type),
            config,
            provider.type,
            settings.parse_settings_input(body, provider),
        )
    except TetherError as error:
        raise click.ClickException(error.message) from None
    services.project_configs.invalidate(project_id)
    dev_keys = settings.dev_key_types(services.secrets, services.settings.dev_keys_secret_id)
    click.echo(json.dumps(settings.settings_view(saved, dev_keys), indent=2))


@cli.group("signing-keys")
def signing_keys() -> None:
    """The public keys that verify a project's user tokens (several at once, for rotation)."""


@signing_keys.command("list")
@click.option("--project", "project_id", required=True, help="Project id.")
@aws_command
def signing_keys_list(project_id: str) -> None:
    """Print the registered keys."""
    from chalicelib.services.signing_keys import signing_key_view

    config = _project_config(project_id)
    click.echo(json.dumps({"signingKeys": [signing_key_view(key) for key in config.signing_keys]}, indent=2))


@signing_keys.command("add")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option(
    "--public-key",
    "public_key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM file of the public key (RSA >= 2048 bits or EC P-256).",
)
@aws_command
def signing_keys_add(project_id: str, public_key_file: str) -> None:
    """Register a public key; prints it with its `kid`."""
    from chalicelib.domain.errors import TetherError
    from chalicelib.services.signing_keys import register_signing_key, signing_key_view
    from chalicelib.wiring import get_services

    _project_config(project_id)
    services = get_services()
    try:
        key = register_signing_key(services.projects, project_id, Path(public_key_file).read_text())
    except TetherError as error:
        raise click.ClickException(error.message) from None
    services.project_configs.invalidate(project_id)
    click.echo(json.dumps(signing_key_view(key), indent=2))


@signing_keys.command("remove")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--kid", required=True, help="The key's id (`signing-keys list`).")
@aws_command
def signing_keys_remove(project_id: str, kid: str) -> None:
    """Stop accepting user tokens signed with this key (running containers: within 30 s)."""
    from chalicelib.wiring import get_services

    config = _project_config(project_id)
    if kid not in {key.kid for key in config.signing_keys}:
        raise click.ClickException(f"Project {project_id} has no signing key {kid}.")
    services = get_services()
    services.projects.delete_signing_key(project_id, kid)
    services.project_configs.invalidate(project_id)
    click.echo(f"Removed signing key {kid}.")


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


# CloudWatch Logs' accepted retention periods (days).
RETENTION_DAYS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]


def template_options(func: F) -> F:
    """The options that shape the stack's template (shared by `deploy` and `cloudformation`)."""
    decorators = [
        click.option("--domain", default=None, help="Serve the API at this custom domain (needs --certificate-arn)."),
        click.option("--certificate-arn", default=None, help="ACM certificate of --domain, in the stack's region."),
        click.option("--alarm-email", default=None, help="Send the alarms to this address (SNS topic, email)."),
        click.option(
            "--log-retention-days",
            default=30,
            show_default=True,
            type=click.Choice([str(days) for days in RETENTION_DAYS]),
            help="How long the functions' and the API's logs are kept.",
        ),
        click.option("--throttle-rate", default=50.0, show_default=True, type=click.FloatRange(1), help="Requests/s."),
        click.option("--throttle-burst", default=100, show_default=True, type=click.IntRange(1), help="Burst size."),
        click.option("--tracing/--no-tracing", default=False, show_default=True, help="AWS X-Ray tracing."),
        click.option(
            "--architecture",
            default="x86_64",
            show_default=True,
            type=click.Choice(["x86_64", "arm64"]),
            help="The functions' CPU (arm64: Lambda compute 20% cheaper; wheels fetched for it).",
        ),
        click.option(
            "--package",
            "package_dir",
            default=None,
            type=click.Path(exists=True, file_okay=False),
            help="Use what `chalice package` already wrote here instead of packaging now.",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def _template_options(values: dict[str, Any]) -> tuple[TemplateOptions, Packager | None]:
    from tether.cloudformation import TemplateOptions
    from tether.deploy import chalice_packager, copy_package

    if values["domain"] and not values["certificate_arn"]:
        raise click.UsageError("--domain needs --certificate-arn (an ACM certificate in the stack's region).")
    options = TemplateOptions(
        domain=values["domain"],
        certificate_arn=values["certificate_arn"],
        alarm_email=values["alarm_email"],
        log_retention_days=int(values["log_retention_days"]),
        throttle_rate=values["throttle_rate"],
        throttle_burst=values["throttle_burst"],
        tracing=values["tracing"],
    )
    package_dir = values["package_dir"]
    return options, (copy_package(Path(package_dir)) if package_dir else chalice_packager(values["architecture"]))


@cli.command("cloudformation")
@click.option("--stage", envvar="TETHER_STAGE", required=True, help="Deployment stage [env: TETHER_STAGE].")
@click.option("--policy", is_flag=True, help="Print only the API function's IAM policy.")
@template_options
def cloudformation(stage: str, policy: bool, **values: Any) -> None:
    """Print the stage's CloudFormation template (what `tether deploy` deploys), built from
    `chalice package`; its parameters `CodeBucket`/`CodeKey` locate the uploaded package."""
    from chalicelib.config import stage_names
    from tether.cloudformation import build_template, render, runtime_policy
    from tether.deploy import DeployError, package_into

    try:
        names = stage_names(stage)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if policy:
        click.echo(json.dumps(runtime_policy(names), indent=2))
        return
    options, packager = _template_options(values)
    try:
        sam = package_into(names, "us-east-1", packager)
        click.echo(render(build_template(sam, names, options)))
    except (DeployError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@cli.command()
@click.option("--bucket", default=None, help="S3 bucket for the package and template [default: created].")
@template_options
@aws_command
def deploy(bucket: str | None, **values: Any) -> None:
    """Deploy the stage: package, upload, create or update its stack, print its URLs.

    Without --bucket, a private, encrypted bucket `tether-artifacts-<account>-<region>` is made."""
    import boto3

    from tether import deploy as deployment

    names = current_names()
    options, packager = _template_options(values)
    session = boto3.session.Session()
    try:
        done = deployment.deploy(session, names, options, bucket=bucket, packager=packager, progress=click.echo)
    except deployment.DeployError as error:
        raise click.ClickException(str(error)) from None
    account = session.client("sts").get_caller_identity()["Account"]
    record_deployment(names, str(session.region_name), account, done.api_url)
    _deployed()
    lines = [
        "",
        f"Stage {names.stage} is deployed (stack {done.stack}, region {session.region_name}).",
        f"  API URL:             {done.api_url}",
        f"  OAuth callback URL:  {done.callback_url}",
    ]
    if "DomainTarget" in done.outputs:
        lines.append(
            f"  DNS:                 point {values['domain']} (CNAME or alias) at {done.outputs['DomainTarget']}"
        )
    lines += [
        "",
        "Next steps:",
        "  1. Register the OAuth callback URL as the redirect URL of your WordPress.com app",
        "     (https://developer.wordpress.com/apps/).",
        f"  2. tether projects create --stage {names.stage} --name 'My app'",
        "  3. Configure the project: docs/deploy.md.",
    ]
    click.echo("\n".join(lines))


@cli.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@aws_command
def destroy(yes: bool) -> None:
    """Delete the stage's stack. Its table (with the data) and its secrets are kept."""
    import boto3

    from tether import deploy as deployment

    names = current_names()
    if not yes:
        click.confirm(f"Delete the stack {names.stack} (the API and its functions)?", abort=True)
    try:
        deployment.destroy(boto3.session.Session(), names, progress=click.echo)
    except deployment.DeployError as error:
        raise click.ClickException(str(error)) from None
    forget_deployment(names.stage)
    click.echo(
        "\n".join(
            [
                f"Deleted the stack {names.stack}. Kept, delete them yourself if you mean to:",
                f"  - the table {names.table} (all data; deletion protection is on),",
                f"  - the bucket of large workflow step outputs tether-{names.stage}-step-outputs-<account>-<region>,",
                f"  - the secrets {names.secret_prefix}/* (data-encryption keys, dev keys, client secrets),",
                "  - the artifacts bucket (packages and templates of past deploys),",
                "  - API Gateway's logging role tether-apigateway-cloudwatch-logs (the region's other APIs use it).",
            ]
        )
    )


@cli.group("dev-keys")
def dev_keys() -> None:
    """The deployment's development OAuth keys (used by projects that leave theirs blank)."""


@dev_keys.command("set")
@click.option("--client-id", required=True, help="Client ID of the deployment's WordPress.com app.")
@click.option("--client-secret", prompt=True, hide_input=True, help="Its client secret (prompted for when not given).")
@aws_command
def dev_keys_set(client_id: str, client_secret: str) -> None:
    """Store the development keys in Secrets Manager (`<prefix>/dev-keys`)."""
    from tether import provision

    if not client_id.strip() or not client_secret.strip():
        raise click.ClickException("Both the client id and the client secret are needed.")
    _deployed()
    provision.store_dev_keys(client_id.strip(), client_secret.strip())
    click.echo("Development keys stored.")


@cli.group()
def keys() -> None:
    """Manage the deployment's data-encryption keys."""


@keys.command("rotate")
@aws_command
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


# ---- workflows and runs (the project's admin API over HTTP) -------------------------------------

PROJECT_KEY_VARIABLE = "TETHER_PROJECT_SECRET_KEY"
RUN_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED")
MAX_RUNS_PAGE = 100
# Longest text a table cell shows (error messages can be long).
CELL_WIDTH = 72


def admin_api_options(command: F) -> F:
    """The options saying which Tether and which project the admin commands talk to."""
    options = [
        click.option(
            "--state-file",
            default=None,
            type=click.Path(exists=True, dir_okay=False),
            help=(
                f"A `tether dev` state file (URL, project, key) [default: {DEFAULT_STATE_FILE} when it "
                "exists and no --api-url, --project or TETHER_* variable for them is set]."
            ),
        ),
        click.option(
            "--api-url", envvar="TETHER_API_URL", default=None, help="Tether's base URL [env TETHER_API_URL]."
        ),
        click.option(
            "--project",
            "project_id",
            envvar="TETHER_PROJECT_ID",
            default=None,
            help="Project id [env TETHER_PROJECT_ID].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _admin_client(state_file: str | None, api_url: str | None, project_id: str | None) -> TetherAdmin:
    """The admin client for the chosen deployment, from one source only, so a key is never sent to
    another deployment's URL: `--state-file`; else the options/environment; else the default state
    file of `tether dev` when present.

    The project secret key is never an option (it would land in shell history): it comes from
    TETHER_PROJECT_SECRET_KEY or the state file."""
    from tether.client import TetherAdmin

    secret_key = os.environ.get(PROJECT_KEY_VARIABLE) or None
    state_path: Path | None = None
    if state_file is not None:
        state_path = Path(state_file)
    elif not (api_url or project_id or secret_key) and DEFAULT_STATE_FILE.is_file():
        state_path = DEFAULT_STATE_FILE
    if state_path is not None:
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"Cannot read the state file {state_path}: {_one_line(str(exc))}") from None
        if not isinstance(state, dict):
            raise click.ClickException(f"The state file {state_path} is not a JSON object.")
        api_url, project_id, secret_key = state.get("apiUrl"), state.get("projectId"), state.get("projectSecretKey")
        if not (isinstance(api_url, str) and isinstance(project_id, str) and isinstance(secret_key, str)):
            raise click.ClickException(f"The state file {state_path} lacks apiUrl, projectId or projectSecretKey.")
    if not api_url or not project_id or not secret_key:
        raise click.UsageError(
            f"Say which Tether to use: --api-url and --project (or TETHER_API_URL, TETHER_PROJECT_ID) with "
            f"{PROJECT_KEY_VARIABLE} set, or --state-file of a running `tether dev`."
        )
    return TetherAdmin(api_url, project_id, secret_key)


@contextmanager
def _api_errors() -> Iterator[None]:
    """Tether's error answers and network failures as one-line CLI errors (exit status 1)."""
    import requests

    from tether.client import TetherError

    try:
        yield
    except TetherError as error:
        raise click.ClickException(f"{_one_line(error.message)} ({error.code}, HTTP {error.status})") from None
    except requests.RequestException as exc:
        raise click.ClickException(f"Cannot reach Tether: {type(exc).__name__}: {_one_line(str(exc))}") from None


def _one_line(value: Any, width: int | None = None) -> str:
    """Text safe for one line of a terminal: control characters dropped, whitespace collapsed."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    """Left-aligned columns, `-` for an empty cell."""
    cells = [[_one_line(value, CELL_WIDTH) if value not in (None, "") else "-" for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def load_definition(path: Path) -> Any:
    """A workflow definition from a JSON file, or YAML for `.yaml`/`.yml`; a value YAML reads as
    something JSON has no form for (a date, a non-string key) is refused with its path."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"Cannot read {path}: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{path} is not valid YAML: {_one_line(str(exc))}") from None
        _check_json_shaped(path, loaded, "$")
        return loaded
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from None


def _check_json_shaped(path: Path, value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise click.ClickException(
                    f"{path}: {where} has the key {key!r}, which YAML did not read as text; quote it."
                )
            _check_json_shaped(path, item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_shaped(path, item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise click.ClickException(
            f"{path}: YAML read {where} as a {type(value).__name__}, which JSON has no form for; quote it."
        )


@cli.group()
def workflows() -> None:
    """Deploy and inspect a project's workflows (through its admin API, with the project secret key).

    Which Tether and project: --state-file of `tether dev` (its default path is used when present),
    or --api-url and --project (TETHER_API_URL, TETHER_PROJECT_ID) with TETHER_PROJECT_SECRET_KEY.
    """


@workflows.command("deploy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "workflow_id", default=None, help="Workflow id [default: the file's name without extension].")
@admin_api_options
def workflows_deploy(
    file: Path, workflow_id: str | None, state_file: str | None, api_url: str | None, project_id: str | None
) -> None:
    """Deploy FILE (JSON, or YAML for .yaml/.yml) as the workflow's next version."""
    from tether.client import TetherError

    definition = load_definition(file)
    workflow_id = workflow_id or file.stem
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        try:
            deployed = client.deploy_workflow(workflow_id, definition)
        except TetherError as error:
            problems = error.body.get("problems")
            if error.code != "invalid_workflow" or not isinstance(problems, list):
                raise
            _fail_with_problems(error.message, problems)
    click.echo(f"Deployed {deployed['id']} version {deployed['version']}")
    if deployed.get("webhookUrl"):
        click.echo(f"Webhook URL: {deployed['webhookUrl']}")
    if deployed.get("webhookSecret"):
        click.echo(f"Webhook secret (shown once): {deployed['webhookSecret']}")


def _fail_with_problems(message: str, problems: list[Any]) -> None:
    click.echo(f"Error: {_one_line(message)} (invalid_workflow)", err=True)
    for problem in problems:
        if isinstance(problem, dict):
            click.echo(f"  {_one_line(problem.get('path', '$'))}: {_one_line(problem.get('message', ''))}", err=True)
        else:
            click.echo(f"  {_one_line(problem)}", err=True)
    sys.exit(1)


@workflows.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@admin_api_options
def workflows_list(as_json: bool, state_file: str | None, api_url: str | None, project_id: str | None) -> None:
    """List the project's workflows at their current versions."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        listed = client.list_workflows()
    if as_json:
        _echo_json({"workflows": listed})
        return
    if not listed:
        click.echo("No workflows.")
        return
    rows = [
        [
            workflow.get("id"),
            workflow.get("version"),
            workflow.get("integration"),
            _trigger_text(workflow.get("trigger")),
            workflow.get("name"),
            workflow.get("updatedAt"),
        ]
        for workflow in listed
    ]
    click.echo(_table(["ID", "VERSION", "INTEGRATION", "TRIGGER", "NAME", "UPDATED"], rows))


def _trigger_text(trigger: Any) -> str:
    if not isinstance(trigger, dict):
        return ""
    kind = str(trigger.get("type", ""))
    detail = trigger.get("event") or trigger.get("cron")
    return f"{kind} {detail}" if detail else kind


@workflows.command("show")
@click.argument("workflow_id", metavar="ID")
@click.option("--asl", is_flag=True, help="Print the compiled Amazon States Language instead (canonical JSON).")
@admin_api_options
def workflows_show(
    workflow_id: str, asl: bool, state_file: str | None, api_url: str | None, project_id: str | None
) -> None:
    """Print a workflow's current version: its definition, version and timestamps."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        shown = client.get_workflow(workflow_id, asl=asl)
    if not asl:
        _echo_json(shown)
        return
    # Sorted keys: the same definition prints the same bytes (what Step Functions stores, indented).
    click.echo(json.dumps(shown.get("asl"), indent=2, sort_keys=True, ensure_ascii=False))
    click.echo(
        f"{shown.get('stateMachineType', '?')} state machine of version {shown.get('version')}: "
        f"{shown.get('stateMachineArn') or '-'}",
        err=True,
    )


@workflows.command("delete")
@click.argument("workflow_id", metavar="ID")
@admin_api_options
def workflows_delete(workflow_id: str, state_file: str | None, api_url: str | None, project_id: str | None) -> None:
    """Delete a workflow and its state machines (runs in flight stop)."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        client.delete_workflow(workflow_id)
    click.echo(f"Deleted {workflow_id}")


@workflows.command("rotate-webhook-secret")
@click.argument("workflow_id", metavar="ID")
@click.option(
    "--grace",
    "grace_seconds",
    type=click.IntRange(0, 7 * 24 * 3600),
    default=None,
    help="Seconds the previous secret keeps working [default: 86400].",
)
@admin_api_options
def workflows_rotate_webhook_secret(
    workflow_id: str, grace_seconds: int | None, state_file: str | None, api_url: str | None, project_id: str | None
) -> None:
    """Give a webhook workflow a new signing secret (printed once); the old one keeps working
    for the grace period, so senders can switch without losing deliveries."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        rotated = client.rotate_webhook_secret(workflow_id, grace_seconds)
    click.echo(f"Webhook URL: {rotated['webhookUrl']}")
    click.echo(f"Webhook secret (shown once): {rotated['webhookSecret']}")
    until = datetime.fromtimestamp(int(rotated["previousSecretValidUntil"]), UTC).isoformat(timespec="seconds")
    click.echo(f"The previous secret works until {until}.")


@cli.group()
def runs() -> None:
    """Inspect and replay workflow runs (through the project's admin API; options as for `workflows`)."""


@runs.command("list")
@click.option("--workflow", "workflow_id", default=None, help="Only this workflow's runs.")
@click.option("--user", "user_id", default=None, help="Only this end user's runs.")
@click.option(
    "--status", type=click.Choice(RUN_STATUSES, case_sensitive=False), default=None, help="Only runs in this status."
)
@click.option(
    "--limit", type=click.IntRange(1, MAX_RUNS_PAGE), default=None, help="At most this many runs [API default: 25]."
)
@click.option("--cursor", default=None, help="Continue after a previous page (its `nextCursor`).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (`runs`, `nextCursor`) instead of a table.")
@admin_api_options
def runs_list(
    workflow_id: str | None,
    user_id: str | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
    as_json: bool,
    state_file: str | None,
    api_url: str | None,
    project_id: str | None,
) -> None:
    """List runs, newest first."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        page = client.list_runs(
            workflow_id=workflow_id,
            user_id=user_id,
            status=status.upper() if status else None,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        _echo_json(page)
        return
    listed = page.get("runs") or []
    if not listed:
        click.echo("No runs.")
    else:
        rows = [
            [
                run.get("id"),
                run.get("workflowId"),
                run.get("version"),
                run.get("userId"),
                run.get("status"),
                run.get("startedAt"),
                run.get("endedAt"),
                run.get("replayOf"),
            ]
            for run in listed
        ]
        click.echo(_table(["RUN", "WORKFLOW", "VERSION", "USER", "STATUS", "STARTED", "ENDED", "REPLAY OF"], rows))
    if page.get("nextCursor"):
        click.echo(f"More runs: --cursor {page['nextCursor']}", err=True)


@runs.command("show")
@click.argument("run_id", metavar="RUN_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (inputs and outputs included).")
@admin_api_options
def runs_show(run_id: str, as_json: bool, state_file: str | None, api_url: str | None, project_id: str | None) -> None:
    """Show a run and its steps: status, attempts, HTTP status and error of each."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        run = client.get_run(run_id)
    if as_json:
        _echo_json(run)
        return
    trigger = run.get("trigger")
    fields = [
        ("Run", run.get("id")),
        ("Workflow", f"{run.get('workflowId')} (version {run.get('version')})"),
        ("User", run.get("userId")),
        ("Status", run.get("status")),
        ("Trigger", _trigger_text(trigger)),
        ("Started", run.get("startedAt")),
        ("Ended", run.get("endedAt")),
        ("Replay of", run.get("replayOf")),
        ("Error", _error_text(run.get("error"))),
    ]
    for label, value in fields:
        if value not in (None, ""):
            click.echo(f"{label + ':':<10} {_one_line(value)}")
    steps = run.get("steps") or []
    click.echo("")
    if not steps:
        click.echo("No steps recorded yet.")
        return
    rows = [
        [
            step.get("id") if step.get("index") is None else f"{step.get('id')}[{step.get('index')}]",
            step.get("status"),
            step.get("attempts"),
            step.get("httpStatus"),
            _error_text(step.get("error")),
        ]
        for step in steps
    ]
    click.echo(_table(["STEP", "STATUS", "ATTEMPTS", "HTTP", "ERROR"], rows))


def _error_text(error: Any) -> str:
    """`{"error", "cause"}` (or any error value) as one line."""
    if not error:
        return ""
    if isinstance(error, dict) and set(error) <= {"error", "cause", "message", "code"}:
        parts = [str(error[key]) for key in ("error", "code", "message", "cause") if error.get(key)]
        return ": ".join(parts)
    return _one_line(error)


@runs.command("replay")
@click.argument("run_id", metavar="RUN_ID")
@admin_api_options
def runs_replay(run_id: str, state_file: str | None, api_url: str | None, project_id: str | None) -> None:
    """Start a new run with the same trigger input, on the workflow's current version."""
    client = _admin_client(state_file, api_url, project_id)
    with _api_errors():
        replayed = client.replay_run(run_id)
    click.echo(f"Started run {replayed['runId']} (replay of {replayed.get('replayOf', run_id)})")


def main() -> None:
    """Entry point of the `tether` console script."""
    cli()
