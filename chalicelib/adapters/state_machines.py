"""AWS Step Functions: one state machine per deployed workflow version, executions per run."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from chalicelib.domain.errors import TetherError, UpstreamError

log = logging.getLogger("tether.workflows")

# StartExecution is throttled per account (a token bucket); a burst is retried with backoff.
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
START_ATTEMPTS = 5


class StateMachineBusy(TetherError):
    """Step Functions kept throttling after the retries allowed: the caller should retry later."""

    status = 429
    code = "workflow_engine_busy"
    # Step Functions refills its StartExecution bucket every second; Tether's own retries have
    # already spent about 3 s. A few more seconds lets a burst drain.
    retry_after = 5


class StateMachineUnavailable(TetherError):
    """Step Functions refused or could not be reached."""

    status = 503
    code = "workflow_engine_unavailable"


class SyncTimedOut(Exception):
    """A synchronous execution did not end before the caller's deadline (it may still end)."""


@dataclass(frozen=True)
class SyncOutcome:
    """How a synchronous (Express) execution ended."""

    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    output: Any
    error: str | None
    cause: str | None
    execution_arn: str | None = None


def state_machine_name(stage: str, project_id: str, workflow_id: str, version: int) -> str:
    """A name unique per deployment, project, workflow and version, within Step Functions' 80
    characters and alphabet whatever the ids hold."""
    digest = hashlib.sha256(f"{project_id}\n{workflow_id}".encode()).hexdigest()[:20]
    return f"tether-{stage[:20]}-{digest}-v{version}"


class StateMachines:
    """The Step Functions calls the workflow engine makes."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        role_arn: str,
        sync_client_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_factory = client_factory
        # StartSyncExecution waits for the run: its client's read timeout is the caller's deadline.
        self._sync_client_factory = sync_client_factory or client_factory
        self._role_arn = role_arn
        self._sleep = sleep

    def create(self, name: str, definition_json: str, machine_type: str, tags: dict[str, str]) -> str:
        """Create a state machine (or find the one an interrupted deploy created); return its ARN."""
        client = self._client_factory()
        try:
            created = client.create_state_machine(
                name=name,
                definition=definition_json,
                roleArn=self._role_arn,
                type=machine_type,
                tags=[{"key": key, "value": value} for key, value in sorted(tags.items())],
            )
        except ClientError as exc:
            raise _engine_error("CreateStateMachine", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("CreateStateMachine", exc) from None
        return str(created["stateMachineArn"])

    def delete(self, arn: str) -> None:
        """Delete a state machine; one already gone is fine."""
        client = self._client_factory()
        try:
            client.delete_state_machine(stateMachineArn=arn)
        except ClientError as exc:
            if _code(exc) not in ("StateMachineDoesNotExist", "ResourceNotFound"):
                raise _engine_error("DeleteStateMachine", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("DeleteStateMachine", exc) from None

    def has_running_executions(self, arn: str) -> bool:
        """Whether a Standard state machine has an execution still running (a machine already
        gone has none)."""
        client = self._client_factory()
        try:
            page = client.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)
        except ClientError as exc:
            if _code(exc) in ("StateMachineDoesNotExist", "ResourceNotFound"):
                return False
            raise _engine_error("ListExecutions", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("ListExecutions", exc) from None
        return bool(page.get("executions"))

    def start(self, arn: str, name: str, execution_input: str) -> str:
        """Start an execution named `name` (names are unique per state machine, so a retried start
        finds the same execution); throttling is retried with backoff. Returns the execution ARN."""
        client = self._client_factory()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                started = client.start_execution(stateMachineArn=arn, name=name, input=execution_input)
                return str(started["executionArn"])
            except ClientError as exc:
                if _code(exc) in THROTTLING_CODES and attempt < START_ATTEMPTS:
                    self._sleep(random.uniform(0, 0.1 * 2**attempt))
                    continue
                raise _engine_error("StartExecution", exc) from None
            except BotoCoreError as exc:
                raise _unreachable("StartExecution", exc) from None
        raise AssertionError("unreachable")

    def run_sync(self, arn: str, name: str, execution_input: str) -> SyncOutcome:
        """Run an Express execution to its end (`StartSyncExecution`); `SyncTimedOut` when it
        outlasts the sync client's read timeout."""
        client = self._sync_client_factory()
        try:
            result = client.start_sync_execution(stateMachineArn=arn, name=name, input=execution_input)
        except ReadTimeoutError:
            raise SyncTimedOut(name) from None
        except ClientError as exc:
            raise _engine_error("StartSyncExecution", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("StartSyncExecution", exc) from None
        output = result.get("output")
        return SyncOutcome(
            status=str(result["status"]),
            output=json.loads(output) if output else None,
            error=result.get("error"),
            cause=result.get("cause"),
            execution_arn=result.get("executionArn"),
        )

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution, for reconciling a run whose end was never recorded."""
        client = self._client_factory()
        try:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            raise _engine_error("DescribeExecution", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("DescribeExecution", exc) from None
        return described


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _engine_error(operation: str, exc: ClientError) -> TetherError:
    code = _code(exc)
    log.error("Step Functions %s failed: %s", operation, code)
    if code in THROTTLING_CODES:
        return StateMachineBusy("The workflow engine is throttling new runs; try again shortly.")
    return UpstreamError(f"The workflow engine refused the request ({code}).", code="workflow_engine_error")


def _unreachable(operation: str, exc: BotoCoreError) -> TetherError:
    log.error("Step Functions %s failed: %s", operation, type(exc).__name__)
    return StateMachineUnavailable("The workflow engine could not be reached; try again shortly.")
