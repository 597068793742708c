"""The local stack's Lambda and Step Functions gaps, filled in-process (never used in AWS).

moto runs the workflows' state machines (its ASL interpreter, `execute_state_machine`), but it
cannot run a Lambda function without Docker and has no `StartSyncExecution`. Two botocore hooks,
registered for every boto3 session created while they are installed, fill the gaps:

- `before-send.lambda.Invoke` answers the invocation by calling the step runner in this process,
  reporting an exception the way Lambda does (`X-Amz-Function-Error: Unhandled` and
  `{"errorType", "errorMessage"}`), so the state machine's `Retry` and `Catch` see the same error
  names as in AWS. The handler runs on a small pool of long-lived threads, each playing a warm
  Lambda container that handles one invocation at a time (moto calls from a new thread for
  every state; without the pool each step would rebuild its thread's AWS resources);
- `before-call.sfn.StartSyncExecution` starts the execution and waits for it to end.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("tether.local")

Handler = Callable[[dict[str, Any], Any], Any]
POLL_SECONDS = 0.02
# Warm "containers" serving invocations; more concurrent invocations wait for one to be free.
CONTAINERS = 16


class _Body:
    """The raw body botocore reads a response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._data


def install(functions: dict[str, Handler], sync_timeout: float | Callable[[], float]) -> Callable[[], None]:
    """Serve Lambda invocations of `functions` (by name suffix, e.g. `step_runner`) in-process and
    emulate StartSyncExecution, which gives up after `sync_timeout` seconds (a number, or a
    function read at each call) as the production client's read timeout does. Returns the
    function that uninstalls both hooks."""
    timeout = sync_timeout if callable(sync_timeout) else (lambda: float(sync_timeout))
    import botocore.handlers

    containers = ThreadPoolExecutor(max_workers=CONTAINERS, thread_name_prefix="local-lambda")

    def on_invoke(request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        name = unquote(request.url.split("/functions/")[1].split("/invocations")[0])
        handler = next((h for suffix, h in functions.items() if name.endswith(suffix)), None)
        if handler is None:
            return None  # not ours: let moto answer
        body = request.body if isinstance(request.body, bytes) else (request.body or "{}").encode()
        headers: dict[str, str] = {}
        try:
            reply = json.dumps(containers.submit(handler, json.loads(body or b"{}"), None).result()).encode()
        except Exception as error:  # noqa: BLE001 - Lambda reports any exception as a function error
            reply = json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
            headers = {"X-Amz-Function-Error": "Unhandled"}
        from botocore.awsrequest import HTTPHeaders

        wire = HTTPHeaders()
        for name, value in headers.items():
            wire[name] = value
        return AWSResponse(request.url, 200, wire, _Body(reply))

    sync_clients: list[Any] = []
    sync_lock = threading.Lock()

    def sync_client() -> Any:
        # One client for every emulated call: building a session and client costs ~0.3 s here,
        # which would otherwise be added to each request-triggered run.
        with sync_lock:
            if not sync_clients:
                import boto3

                sync_clients.append(boto3.session.Session().client("stepfunctions"))
            return sync_clients[0]

    def on_sync(params: Any, **_: Any) -> Any:
        return _run_sync(json.loads(params["body"]), timeout(), sync_client())

    import boto3

    handlers: list[tuple[str, Callable[..., Any]]] = [
        ("before-send.lambda.Invoke", on_invoke),
        ("before-call.sfn.StartSyncExecution", on_sync),
    ]
    for handler in reversed(handlers):
        botocore.handlers.BUILTIN_HANDLERS.insert(0, handler)
    # Sessions copy the built-in handlers when created: the next default session (which moto's
    # interpreter builds its Lambda client from) must be a new one.
    boto3.DEFAULT_SESSION = None

    def uninstall() -> None:
        for handler in handlers:
            if handler in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.remove(handler)
        boto3.DEFAULT_SESSION = None
        containers.shutdown(wait=False)

    return uninstall


def _run_sync(request: dict[str, Any], timeout: float, client: Any) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse, HTTPHeaders
    from botocore.exceptions import ReadTimeoutError

    started = client.start_execution(
        stateMachineArn=request["stateMachineArn"], name=request.get("name") or "", input=request.get("input", "{}")
    )
    arn = started["executionArn"]
    deadline = time.monotonic() + timeout
    wait = threading.Event()
    while True:
        described = client.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise ReadTimeoutError(endpoint_url="local StartSyncExecution")
        wait.wait(POLL_SECONDS)
    parsed: dict[str, Any] = {
        "executionArn": arn,
        "stateMachineArn": request["stateMachineArn"],
        "name": described.get("name"),
        "startDate": described.get("startDate"),
        "stopDate": described.get("stopDate"),
        "status": described["status"],
        "input": request.get("input", "{}"),
    }
    for key in ("output", "error", "cause"):
        if described.get(key) is not None:
            parsed[key] = described[key]
    return AWSResponse("local://start-sync-execution", 200, HTTPHeaders(), _Body(b"{}")), parsed
