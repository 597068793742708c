"""The local stack: moto for AWS, the WordPress.com sandbox and the API, in one process."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from tether.demo_site import DEMO_DIR, DemoSite, demo_user_runs
from tether.local_server import LocalApiServer
from tether.scheduler_loop import SchedulerLoop, dispatch_stored, stored_schedules
from wpcom_sandbox.server import WordPressSandbox

# The demo workflows deployed to the dev project, one definition per file (the file name is its id).
DEMO_WORKFLOWS_DIR = DEMO_DIR / "workflows"

_T = TypeVar("_T")

LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local-stack",
    "AWS_SECRET_ACCESS_KEY": "local-stack",
    "AWS_SESSION_TOKEN": "local-stack",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class PortInUse(RuntimeError):
    """A port the stack needs is taken; `flag` is the option that picks another."""

    def __init__(self, host: str, port: int, flag: str) -> None:
        super().__init__(f"Port {port} on {host} is already in use.")
        self.host = host
        self.port = port
        self.flag = flag


class StateFileInUse(RuntimeError):
    """Another running stack owns the state file (it holds the file's lock)."""

    def __init__(self, path: Path, api_url: str | None) -> None:
        super().__init__(f"Another `tether dev` is using the state file {path}.")
        self.path = path
        self.api_url = api_url


def lock_state_file(path: Path) -> IO[str]:
    """Take the state file's lock (`<state file>.lock`, held until the returned file is closed or
    the process ends, however it ends), so a second stack never overwrites a live one's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - held for the stack's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        try:
            api_url = str(json.loads(path.read_text())["apiUrl"])
        except (OSError, ValueError, KeyError, TypeError):
            api_url = None
        raise StateFileInUse(path, api_url) from None
    return handle


@dataclass
class DevStack:
    """A running local stack; `state` is what the state file holds."""

    api: LocalApiServer
    sandbox: WordPressSandbox | None
    state: dict[str, Any]
    _mock: Any = field(repr=False)
    _unserialize: Callable[[], None] = field(repr=False, default=lambda: None)
    _uninstall_lambda: Callable[[], None] = field(repr=False, default=lambda: None)
    _state_lock: IO[str] | None = field(repr=False, default=None)
    # Stands in for EventBridge Scheduler: dispatches schedule-triggered workflows' ticks.
    scheduler: SchedulerLoop | None = None

    def stop(self) -> None:
        """Stop the servers, the scheduler loop, the in-process step runner and the AWS mock;
        release the state file."""
        if self.scheduler is not None:
            self.scheduler.stop()
        self.api.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        self._uninstall_lambda()
        self._unserialize()
        self._mock.stop()
        if self._state_lock is not None:
            self._state_lock.close()


def start_dev_stack(
    host: str = "127.0.0.1",
    port: int = 8000,
    wpcom_origin: str | None = None,
    wpcom_port: int = 0,
    state_file: Path | None = None,
    extra_origins: tuple[str, ...] = (),
) -> DevStack:
    """Start moto, provision the table and keys, bootstrap a dev project and serve everything.

    The dev project's allowed origins are the demo page's (the API's own origin) and
    `extra_origins` (say, the app under development at http://localhost:3000). Raises
    `StateFileInUse` when another stack holds `state_file`, `PortInUse` when a port is taken."""
    from moto import mock_aws

    state_lock = lock_state_file(state_file) if state_file is not None else None
    for name, value in LOCAL_AWS_ENV.items():
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    unserialize = serialize_moto_calls()
    uninstall_lambda = _run_step_runner_in_process()
    try:
        stack = _start_servers(mock, host, port, wpcom_origin, wpcom_port, state_file, extra_origins)
    except BaseException:
        uninstall_lambda()
        unserialize()
        mock.stop()
        if state_lock is not None:
            state_lock.close()
        raise
    stack._unserialize = unserialize
    stack._uninstall_lambda = uninstall_lambda
    stack._state_lock = state_lock
    return stack


def _run_step_runner_in_process() -> Callable[[], None]:
    """moto runs the workflows' state machines (`execute_state_machine`); their step runner Lambda
    is answered in this process. Returns the function that undoes it."""
    from app import step_runner
    from chalicelib.config import get_settings
    from tether import local_lambda

    # The timeout is read at each call, from the settings the stack's environment gives.
    return local_lambda.install(
        {"step_runner": step_runner}, sync_timeout=lambda: get_settings().workflow_sync_timeout_seconds
    )


def serialize_moto_calls() -> Callable[[], None]:
    """Run every AWS call that moto answers under one lock; return a function that undoes it.

    moto's in-memory backends are not thread-safe (a DynamoDB query iterating a table while another
    thread's put adds a partition fails with `RuntimeError: dictionary changed size during
    iteration`), and the local server answers each connection on a thread of its own. Real AWS
    needs no such lock, so it lives here, around moto's request hook, and not in the adapters."""
    from moto.core.models import botocore_stubber

    lock = threading.RLock()  # re-entrant: a mocked service may call another one in the same thread
    original = botocore_stubber.process_request

    def process_request(request: Any) -> Any:
        with lock:
            return original(request)

    botocore_stubber.process_request = process_request  # type: ignore[method-assign]  # one instance, undone below

    def undo() -> None:
        if botocore_stubber.process_request is process_request:
            del botocore_stubber.process_request

    return undo


def _start_servers(
    mock: Any,
    host: str,
    port: int,
    wpcom_origin: str | None,
    wpcom_port: int,
    state_file: Path | None,
    extra_origins: tuple[str, ...],
) -> DevStack:
    # Imported here so that nothing reads settings before the environment is in place.
    from app import app
    from chalicelib.services.allowed_origins import canonical_origins, set_allowed_origins
    from chalicelib.services.projects import create_project
    from chalicelib.services.signing_keys import register_signing_key
    from chalicelib.wiring import get_services, reset_services
    from tether import provision
    from tether.tokens import generate_rsa_private_key_pem, public_key_pem

    api = _bind(lambda: LocalApiServer(app, host, port), host, port, "--port")
    sandbox: WordPressSandbox | None = None
    if wpcom_origin is None:
        try:
            sandbox = _bind(lambda: WordPressSandbox(host, wpcom_port), host, wpcom_port, "--wpcom-port")
        except BaseException:
            api.close()
            raise
        wpcom_origin = sandbox.origin
    os.environ["TETHER_PUBLIC_URL"] = api.url
    os.environ["TETHER_WPCOM_ORIGIN"] = wpcom_origin
    os.environ.setdefault("TETHER_STAGE", "local")
    reset_services()

    provision.ensure_deployment()
    state: dict[str, Any] = {"apiUrl": api.url, "wpcomOrigin": wpcom_origin}
    if sandbox is not None:
        client = sandbox.state.register_client("Tether development keys", api.url + "/oauth/callback")
        provision.store_dev_keys(client.client_id, client.client_secret)
        state["devClientId"] = client.client_id
        state["devClientSecret"] = client.client_secret
    services = get_services()
    created = create_project(services.projects, "Development project")
    private_pem = generate_rsa_private_key_pem()
    key = register_signing_key(services.projects, created.project.id, public_key_pem(private_pem))
    # The demo page is served from the API's own origin.
    origins = canonical_origins([api.url, *extra_origins])
    set_allowed_origins(services.projects, created.project.id, origins)
    state["workflows"] = deploy_demo_workflows(created.project.id)
    state.update(
        {
            "allowedOrigins": list(origins),
            "projectId": created.project.id,
            "projectSecretKey": created.secret_key,
            "signingKeyId": key.kid,
            "signingPrivateKeyPem": private_pem,
        }
    )
    project_id = created.project.id
    api.serve_demo(DemoSite(api.url, project_id, private_pem, runs=lambda user_id: demo_user_runs(project_id, user_id)))
    if sandbox is not None:
        sandbox.start()
    api.start()
    scheduler = SchedulerLoop(stored_schedules, dispatch_stored)
    scheduler.start()
    if state_file is not None:
        write_state_file(state_file, state)
    return DevStack(api, sandbox, state, mock, scheduler=scheduler)


def deploy_demo_workflows(project_id: str) -> list[str]:
    """Deploy every definition in demo/workflows/ to the project; return their ids."""
    from chalicelib.domain.clock import utc_now_iso
    from chalicelib.services.workflows import deploy_workflow
    from chalicelib.wiring import get_services

    deployed = []
    for path in sorted(DEMO_WORKFLOWS_DIR.glob("*.json")):
        deployment = deploy_workflow(
            get_services().workflow_ports, project_id, path.stem, json.loads(path.read_text()), utc_now_iso()
        )
        deployed.append(deployment.workflow.id)
    return deployed


def _bind(make: Callable[[], _T], host: str, port: int, flag: str) -> _T:
    try:
        return make()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, flag) from None
        raise


def write_state_file(path: Path, state: dict[str, Any]) -> None:
    """Write the state JSON readable by its owner only (it holds keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
    os.replace(tmp, path)
