"""Use cases that start workflow runs (app events, request triggers, first connects, replays) and
read task history."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.adapters.connections import CredentialRepository
from chalicelib.adapters.metrics import Metrics
from chalicelib.adapters.output_store import OutputStore, is_reference
from chalicelib.adapters.repositories import UserRepository
from chalicelib.adapters.run_repository import RunRepository
from chalicelib.adapters.state_machines import StateMachines, SyncOutcome, SyncTimedOut
from chalicelib.adapters.workflow_repository import WorkflowRepository
from chalicelib.config import Settings
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import (
    BadRequest,
    Forbidden,
    IntegrationNotConnected,
    NotFound,
    PayloadTooLarge,
    TetherError,
)
from chalicelib.domain.models import CREDENTIAL_VALID, EndUser
from chalicelib.domain.workflows.compiler import initial_state
from chalicelib.domain.workflows.records import RUN_STATUSES, DeployedWorkflow, RunRecord, StepRecord, UserWorkflowState
from chalicelib.domain.workflows.validation import parse_workflow

log = logging.getLogger("tether.workflows")

MAX_EVENT_NAME_CHARS = 200
MAX_IDEMPOTENCY_KEY_CHARS = 255
IDEMPOTENCY_SECONDS = 24 * 3600
DAY_SECONDS = 24 * 3600
# Step Functions takes at most 256 KB of execution input; the steps' results need room too.
MAX_EXECUTION_INPUT_BYTES = 200 * 1024


class _RunError(TetherError):
    """An error about a run the caller can look up (`runId` in the body)."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id

    def details(self) -> dict[str, object]:
        """The run to look up."""
        return {"runId": self.run_id}


class WorkflowFailed(_RunError):
    """A request-triggered run failed before it could answer."""

    status = 502
    code = "workflow_failed"


class WorkflowTimedOut(_RunError):
    """A request-triggered run did not finish in time to answer (it may still finish)."""

    status = 504
    code = "workflow_timeout"


@dataclass(frozen=True)
class RunPorts:
    """What starting and reading runs needs."""

    settings: Settings
    workflows: WorkflowRepository
    runs: RunRepository
    state_machines: StateMachines
    credentials: CredentialRepository
    users: UserRepository
    outputs: OutputStore
    metrics: Metrics
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Answer:
    """What a request-triggered workflow answers."""

    status: int
    body: Any
    run_id: str


# ---- starting runs ---------------------------------------------------------------------------


def new_run_id() -> str:
    """A fresh run id (also the execution's name)."""
    return uuid.uuid4().hex


def skip_reason(ports: RunPorts, workflow: DeployedWorkflow, user_id: str) -> str | None:
    """Why the workflow would not run for this user (`workflow_not_enabled`,
    `integration_not_connected`), or None when it would."""
    state = ports.workflows.user_state(workflow.project_id, user_id, workflow.id)
    if not state.is_enabled(workflow):
        return "workflow_not_enabled"
    if not is_connected(ports, workflow.project_id, user_id, workflow.integration):
        return "integration_not_connected"
    return None


def start_run(
    ports: RunPorts,
    workflow: DeployedWorkflow,
    user_id: str,
    trigger: dict[str, Any],
    *,
    run_id: str | None = None,
    replay_of: str | None = None,
    known: tuple[EndUser, UserWorkflowState] | None = None,
) -> RunRecord:
    """Record a run and start its execution on the workflow's version.

    The run is written first, so a start that fails is never forgotten: it is marked FAILED with
    the reason and the error is raised. `known` is the user and their state for this workflow
    when the caller has just read them (they are read otherwise)."""
    run_id = run_id or new_run_id()
    record = RunRecord(
        id=run_id,
        project_id=workflow.project_id,
        workflow_id=workflow.id,
        version=workflow.version,
        user_id=user_id,
        status="RUNNING",
        trigger=trigger,
        started_at=utc_now_iso(),
        replay_of=replay_of,
    )
    execution_input = _execution_input(ports, workflow, user_id, trigger, run_id, known)
    ports.runs.create(record, _expires_at(ports))
    try:
        arn = ports.state_machines.start(workflow.state_machine_arn, run_id, execution_input)
    except TetherError as error:
        _record_start_failure(ports, record, error)
        raise
    ports.runs.set_execution(workflow.project_id, run_id, arn)
    return record


def trigger_event(
    ports: RunPorts, project_id: str, user_id: str, body: dict[str, Any], idempotency_key: str | None
) -> list[str]:
    """Run every enabled `app_event` workflow subscribed to the event, for this user.

    With an idempotency key, each workflow starts at most once for that key (24 hours): a repeat
    answers the run ids of the first delivery. When a run cannot start (Step Functions throttling
    after retries: 429), it is recorded as failed to start and the error is raised; the caller's
    retry with the same key starts only the workflows that did not start."""
    name, payload = _parse_event(body)
    key_hash = claim_hash("event", _check_idempotency_key(idempotency_key)) if idempotency_key else None
    run_ids: list[str] = []
    failures: list[TetherError] = []
    for workflow in _runnable(ports, project_id, user_id, lambda w: w.trigger.get("event") == name, "app_event"):
        run_id = uuid.uuid4().hex
        if key_hash is not None:
            earlier = ports.workflows.claim_trigger(
                project_id, user_id, workflow.id, key_hash, run_id, int(ports.clock()) + IDEMPOTENCY_SECONDS
            )
            if earlier is not None:
                run_ids.append(earlier)
                continue
        try:
            start_run(ports, workflow, user_id, {"type": "app_event", "event": name, "payload": payload}, run_id=run_id)
        except TetherError as error:
            # Recorded as failed to start; with a key, the claim is released so a retry starts it.
            failures.append(error)
            if key_hash is not None:
                ports.workflows.release_trigger(project_id, user_id, workflow.id, key_hash, run_id)
            continue
        run_ids.append(run_id)
    if failures:
        raise failures[0]
    return run_ids


def run_request_workflow(
    ports: RunPorts, project_id: str, user_id: str, workflow_id: str, request: dict[str, Any]
) -> Answer:
    """Run a `request` workflow synchronously and return its answer: the `response` step's status
    and body, or else 200 with the last step's output."""
    workflow = _get(ports.workflows, project_id, workflow_id)
    if workflow.trigger.get("type") != "request":
        raise BadRequest("This workflow is not triggered by requests.", code="workflow_not_request_triggered")
    _check_runnable(ports, workflow, user_id)
    trigger = {"type": "request", **request}
    run_id = uuid.uuid4().hex
    record = RunRecord(
        id=run_id,
        project_id=project_id,
        workflow_id=workflow.id,
        version=workflow.version,
        user_id=user_id,
        status="RUNNING",
        trigger=trigger,
        started_at=utc_now_iso(),
    )
    execution_input = _execution_input(ports, workflow, user_id, trigger, run_id)
    ports.runs.create(record, _expires_at(ports))
    try:
        outcome = ports.state_machines.run_sync(workflow.state_machine_arn, run_id, execution_input)
    except SyncTimedOut:
        raise WorkflowTimedOut("The workflow did not answer in time; its run may still finish.", run_id) from None
    except TetherError as error:
        _record_start_failure(ports, record, error)
        raise
    if outcome.execution_arn:
        ports.runs.set_execution(project_id, run_id, outcome.execution_arn)
    if outcome.status != "SUCCEEDED":
        # Express executions send no EventBridge events: the caller who saw the outcome counts it.
        ports.metrics.failed_run(
            status=outcome.status,
            error=outcome.error or f"States.{outcome.status}",
            projectId=project_id,
            workflowId=workflow.id,
            runId=run_id,
        )
    return _answer(workflow, outcome, run_id)


def start_on_connect(ports: RunPorts, project_id: str, user_id: str, integration_type: str, credential_id: str) -> None:
    """Start each enabled `integration_enabled` workflow once for a newly created credential.
    Never raises: a connect must not fail because a workflow could not start (the run records it)."""
    try:
        workflows = _runnable(
            ports, project_id, user_id, lambda w: w.integration == integration_type, "integration_enabled"
        )
        for workflow in workflows:
            run_id = uuid.uuid4().hex
            claim = claim_hash("connect", credential_id)
            if ports.workflows.claim_trigger(project_id, user_id, workflow.id, claim, run_id, None) is not None:
                continue
            try:
                start_run(
                    ports,
                    workflow,
                    user_id,
                    {"type": "integration_enabled", "credentialId": credential_id},
                    run_id=run_id,
                )
            except TetherError as error:
                log.error("integration_enabled run %s did not start: %s", run_id, error.code)
    except TetherError as error:
        log.error("integration_enabled workflows not started: %s", error.code)


def replay(ports: RunPorts, project_id: str, run_id: str) -> RunRecord:
    """Start a new run with the same trigger input on the workflow's current version."""
    found = ports.runs.get(project_id, run_id)
    if found is None:
        raise NotFound("No run with this id in this project.", code="run_not_found")
    original, _ = found
    workflow = _get(ports.workflows, project_id, original.workflow_id)
    if workflow.trigger.get("type") == "request":
        raise BadRequest(
            "Runs of request-triggered workflows answer their caller and cannot be replayed.",
            code="replay_not_supported",
        )
    return start_run(ports, workflow, original.user_id, original.trigger, replay_of=original.id)


# ---- per-user state --------------------------------------------------------------------------


def set_enabled(ports: RunPorts, project_id: str, user_id: str, workflow_id: str, enabled: bool) -> dict[str, Any]:
    """Turn a workflow on or off for the user (enabling needs the integration connected)."""
    workflow = _get(ports.workflows, project_id, workflow_id)
    if enabled:
        _require_connection(ports, workflow, user_id)
    state = ports.workflows.set_user_state(project_id, user_id, workflow_id, utc_now_iso(), enabled=enabled)
    return {"id": workflow_id, "enabled": state.is_enabled(workflow), "settings": state.settings}


def workflow_settings(ports: RunPorts, project_id: str, user_id: str, integration_type: str) -> dict[str, Any]:
    """The user's `workflowSettings` for one integration: `{<id>: {enabled, settings}}`."""
    states = ports.workflows.user_states(project_id, user_id)
    out: dict[str, Any] = {}
    for workflow in ports.workflows.list_workflows(project_id):
        if workflow.integration != integration_type:
            continue
        state = states.get(workflow.id)
        out[workflow.id] = {
            "enabled": state.is_enabled(workflow) if state else workflow.default_enabled,
            "settings": state.settings if state else {},
        }
    return out


def update_workflow_settings(ports: RunPorts, project_id: str, user_id: str, changes: Any) -> None:
    """Apply `{<workflowId>: {enabled?, settings?}}` (the SDK's `updateWorkflowUserSettings`)."""
    if not isinstance(changes, dict):
        raise BadRequest("'config.workflowSettings' must be a JSON object.", code="invalid_field")
    checked: list[tuple[DeployedWorkflow, bool | None, dict[str, Any] | None]] = []
    for workflow_id, change in changes.items():
        workflow = _get(ports.workflows, project_id, str(workflow_id))
        if not isinstance(change, dict) or set(change) - {"enabled", "settings"}:
            raise BadRequest(
                f"workflowSettings.{workflow_id} must be an object with 'enabled' and/or 'settings'.",
                code="invalid_field",
            )
        enabled = change.get("enabled")
        settings = change.get("settings")
        if enabled is not None and not isinstance(enabled, bool):
            raise BadRequest(f"workflowSettings.{workflow_id}.enabled must be true or false.", code="invalid_field")
        if settings is not None and not isinstance(settings, dict):
            raise BadRequest(f"workflowSettings.{workflow_id}.settings must be an object.", code="invalid_field")
        if settings is not None and len(json.dumps(settings)) > 16 * 1024:
            raise BadRequest(f"workflowSettings.{workflow_id}.settings is over 16 KB.", code="invalid_field")
        checked.append((workflow, enabled, settings))
    for workflow, enabled, settings in checked:
        ports.workflows.set_user_state(
            project_id, user_id, workflow.id, utc_now_iso(), enabled=enabled, settings=settings
        )


# ---- task history ----------------------------------------------------------------------------


# An Express execution lasts at most 5 minutes; a little more covers clock skew and the last write.
EXPRESS_MAX_SECONDS = 300
EXPRESS_GRACE_SECONDS = 60
RUN_LOST = "Tether.RunLost"


def get_run(ports: RunPorts, project_id: str, run_id: str) -> tuple[RunRecord, list[StepRecord]]:
    """A run with its steps (large outputs fetched from the output store), reconciled first when
    its execution ended without recording the outcome (see `_reconciled_run`)."""
    run, steps = _reconciled_run(ports, project_id, run_id)
    return run, [_with_stored_output(ports, step) for step in steps]


def _reconciled_run(ports: RunPorts, project_id: str, run_id: str) -> tuple[RunRecord, list[StepRecord]]:
    """A run with its steps. A run still RUNNING whose execution has ended (its final state could
    not record the outcome) is reconciled first: a Standard execution from DescribeExecution; an
    Express one (request-triggered), which DescribeExecution does not know, is marked failed once
    it is older than an Express execution can live."""
    run, steps = _read_run(ports, project_id, run_id)
    if run.status == "RUNNING" and _is_express(run):
        if ports.clock() - _unix(run.started_at) > EXPRESS_MAX_SECONDS + EXPRESS_GRACE_SECONDS:
            error = {
                "error": RUN_LOST,
                "cause": "The run's Express execution can last at most 5 minutes and its end was never "
                "recorded (it timed out, or its last step could not write the outcome); it is marked failed.",
            }
            ports.runs.finish(project_id, run_id, "FAILED", utc_now_iso(), error)
            return _read_run(ports, project_id, run_id)
        return run, steps
    if run.status == "RUNNING" and run.execution_arn:
        try:
            described = ports.state_machines.describe_execution(run.execution_arn)
        except TetherError:
            return run, steps
        status = described.get("status")
        if status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"):
            if status == "SUCCEEDED":
                ports.runs.finish(project_id, run_id, "SUCCEEDED", utc_now_iso())
            else:
                error = {
                    "error": described.get("error") or f"States.{status}",
                    "cause": described.get("cause") or status,
                }
                ports.runs.finish(project_id, run_id, "FAILED", utc_now_iso(), error)
            # Read again, steps too: the execution ended after the first read, so its last steps
            # may have been recorded since.
            return _read_run(ports, project_id, run_id)
    return run, steps


def _read_run(ports: RunPorts, project_id: str, run_id: str) -> tuple[RunRecord, list[StepRecord]]:
    found = ports.runs.get(project_id, run_id)
    if found is None:
        raise NotFound("No run with this id in this project.", code="run_not_found")
    return found


def _is_express(run: RunRecord) -> bool:
    """Request-triggered runs execute on Express state machines."""
    return run.trigger.get("type") == "request" or ":express:" in (run.execution_arn or "")


def _unix(stored: str) -> float:
    return datetime.fromisoformat(stored.replace("Z", "+00:00")).timestamp()


def _with_stored_output(ports: RunPorts, step: StepRecord) -> StepRecord:
    """The step with a large output read back from S3 (the record holds a reference)."""
    if not is_reference(step.output):
        return step
    try:
        return dataclasses.replace(step, output=ports.outputs.get(step.output))
    except TetherError:
        return step  # expired or unreadable: show the reference rather than fail the read


def list_runs(
    ports: RunPorts, project_id: str, query: dict[str, str], limit: int
) -> tuple[list[RunRecord], str | None]:
    """A page of runs, newest first, filtered by workflow, user and status."""
    status = query.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(RUN_STATUSES)}.", code="invalid_parameter")
    return ports.runs.list_runs(
        project_id,
        limit=limit,
        cursor=query.get("cursor"),
        workflow_id=query.get("workflowId") or None,
        user_id=query.get("userId") or None,
        status=status,
    )


def run_view(run: RunRecord, steps: list[StepRecord] | None = None) -> dict[str, Any]:
    """The runs API's view of a run (with its steps when given)."""
    view: dict[str, Any] = {
        "id": run.id,
        "workflowId": run.workflow_id,
        "version": run.version,
        "userId": run.user_id,
        "status": run.status,
        "trigger": run.trigger,
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "error": run.error,
        "executionArn": run.execution_arn,
        "replayOf": run.replay_of,
    }
    if steps is not None:
        view["steps"] = [
            {
                "id": step.step_id,
                **({"index": step.index} if step.index is not None else {}),
                **({"outerIndexes": list(step.outer)} if step.outer else {}),
                "status": step.status,
                "attempts": step.attempts,
                "input": step.input,
                "output": step.output,
                "httpStatus": step.http_status,
                "error": step.error,
                "startedAt": step.started_at,
                "endedAt": step.ended_at,
            }
            for step in steps
        ]
    return view


# ---- helpers ---------------------------------------------------------------------------------


def _expires_at(ports: RunPorts) -> int:
    return int(ports.clock()) + ports.settings.run_history_days * DAY_SECONDS


def _execution_input(
    ports: RunPorts,
    workflow: DeployedWorkflow,
    user_id: str,
    trigger: dict[str, Any],
    run_id: str,
    known: tuple[EndUser, UserWorkflowState] | None = None,
) -> str:
    if known is not None:
        user: EndUser | None
        user, state = known
    else:
        user = ports.users.find(workflow.project_id, user_id)
        state = ports.workflows.user_state(workflow.project_id, user_id, workflow.id)
    text = json.dumps(
        initial_state(
            run_id=run_id,
            trigger=trigger,
            user={"id": user_id, "metadata": user.meta if user else {}},
            settings=state.settings,
        ),
        separators=(",", ":"),
    )
    if len(text.encode()) > MAX_EXECUTION_INPUT_BYTES:
        raise PayloadTooLarge(
            f"The trigger's input is over {MAX_EXECUTION_INPUT_BYTES // 1024} KB with the user's metadata "
            "and settings; a run cannot start with it."
        )
    return text


def _record_start_failure(ports: RunPorts, record: RunRecord, error: TetherError) -> None:
    ports.runs.finish(
        record.project_id,
        record.id,
        "FAILED",
        utc_now_iso(),
        {"error": "Tether.StartFailed", "cause": f"The run could not start: {error.message}"},
    )


def _get(workflows: WorkflowRepository, project_id: str, workflow_id: str) -> DeployedWorkflow:
    workflow = workflows.get(project_id, workflow_id)
    if workflow is None:
        raise NotFound("No workflow with this id in this project.", code="workflow_not_found")
    return workflow


def is_connected(ports: RunPorts, project_id: str, user_id: str, integration_type: str) -> bool:
    """True when the user has a valid credential for the integration."""
    return any(
        credential.integration_type == integration_type and credential.status == CREDENTIAL_VALID
        for credential in ports.credentials.list_for_user(project_id, user_id)
    )


def _require_connection(ports: RunPorts, workflow: DeployedWorkflow, user_id: str) -> None:
    if not is_connected(ports, workflow.project_id, user_id, workflow.integration):
        raise IntegrationNotConnected(
            f"Connect {workflow.integration} first: workflows run on the user's connected account.",
            code="integration_not_connected",
        )


def _check_runnable(ports: RunPorts, workflow: DeployedWorkflow, user_id: str) -> None:
    state = ports.workflows.user_state(workflow.project_id, user_id, workflow.id)
    if not state.is_enabled(workflow):
        raise Forbidden("This workflow is not enabled for this user.", code="workflow_not_enabled")
    _require_connection(ports, workflow, user_id)


def _runnable(
    ports: RunPorts,
    project_id: str,
    user_id: str,
    matches: Callable[[DeployedWorkflow], bool],
    trigger_type: str,
) -> list[DeployedWorkflow]:
    candidates = [
        w for w in ports.workflows.list_workflows(project_id) if w.trigger.get("type") == trigger_type and matches(w)
    ]
    if not candidates:
        return []
    states = ports.workflows.user_states(project_id, user_id)
    connected = {
        credential.integration_type
        for credential in ports.credentials.list_for_user(project_id, user_id)
        if credential.status == CREDENTIAL_VALID
    }
    return [
        w
        for w in candidates
        if w.integration in connected and (states[w.id].is_enabled(w) if w.id in states else w.default_enabled)
    ]


def _parse_event(body: dict[str, Any]) -> tuple[str, Any]:
    unknown = set(body) - {"name", "payload"}
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.", code="unknown_field")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_EVENT_NAME_CHARS:
        raise BadRequest(
            f"Field 'name' must be the event name (1-{MAX_EVENT_NAME_CHARS} characters).", code="invalid_field"
        )
    payload = body.get("payload", {})
    if payload is None:
        payload = {}
    return name, payload


def _check_idempotency_key(key: str) -> str:
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise BadRequest(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} characters.", code="invalid_idempotency_key"
        )
    return key


def claim_hash(kind: str, value: str) -> str:
    """What a trigger claim is keyed by: the SHA-256 of the kind of claim and the claimed value."""
    return hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()


def _answer(workflow: DeployedWorkflow, outcome: SyncOutcome, run_id: str) -> Answer:
    if outcome.status != "SUCCEEDED":
        if outcome.status == "TIMED_OUT":
            raise WorkflowTimedOut("The workflow did not answer in time.", run_id)
        raise WorkflowFailed(f"The workflow failed ({outcome.error or 'error'}); see run {run_id}.", run_id)
    state = outcome.output if isinstance(outcome.output, dict) else {}
    response = state.get("response")
    if isinstance(response, dict):
        status = response.get("status", 200)
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise WorkflowFailed(f"The workflow's response status {status!r} is not an HTTP status.", run_id)
        return Answer(status, response.get("body"), run_id)
    steps = state.get("steps") or {}
    definition = parse_workflow(workflow.definition, integrations=[workflow.integration])
    top_level = [step.id for step in definition.steps]
    for step_id in reversed(top_level):
        if step_id in steps and isinstance(steps[step_id], dict) and "output" in steps[step_id]:
            return Answer(200, steps[step_id]["output"], run_id)
    return Answer(200, None, run_id)
