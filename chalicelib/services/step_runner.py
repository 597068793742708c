"""The step runner: what the workflow state machines invoke for each step that needs code.

One invocation runs one step once. Failures are classified: network errors, 5xx and 429 raise
`TetherTransientError` (the state machine's `Retry` tries again, each attempt in the execution
history); other 4xx, template errors and refusals raise `TetherStepFailed` (the run fails at once).
Every attempt is written to the step's record. The user's token is added inside the proxy's
service and never enters the state, the records or a log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.adapters import public_http
from chalicelib.adapters.connections import CredentialRepository
from chalicelib.adapters.metrics import Metrics
from chalicelib.adapters.output_store import OutputStore, is_reference
from chalicelib.adapters.run_repository import RunRepository
from chalicelib.adapters.upstream import Clock, RetryPolicy, UpstreamResponse
from chalicelib.adapters.workflow_repository import WorkflowRepository
from chalicelib.config import Settings, StageNames
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import TetherError
from chalicelib.domain.providers import CATALOGUE
from chalicelib.domain.workflows import conditions, templates
from chalicelib.domain.workflows.compiler import DEFAULT_RETRY
from chalicelib.domain.workflows.model import (
    ConditionStep,
    FanOutStep,
    HttpStep,
    RequestStep,
    ResponseStep,
    Step,
    WorkflowDefinition,
)
from chalicelib.domain.workflows.records import StepRecord, StepStatus
from chalicelib.domain.workflows.validation import parse_workflow
from chalicelib.services import proxy
from chalicelib.services.project_config import ProjectConfigCache
from chalicelib.services.user_tokens import VerifiedUser

log = logging.getLogger("tether.workflows")

HTTP_STEP_TIMEOUT_SECONDS = 20.0
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset(
    {
        "upstream_timeout",
        "upstream_unreachable",
        "upstream_bad_response",
        "upstream_rate_limited",
        "destination_unreachable",
    }
)
REDACTED = "[redacted]"
_SENSITIVE_HEADER_WORDS = ("authorization", "cookie", "token", "secret", "api-key", "apikey", "password", "signature")


class TetherTransientError(Exception):
    """A failure worth retrying (its class name is the error name the state machine retries on)."""


class TetherStepFailed(Exception):
    """A failure that retrying cannot fix: the run fails."""


@dataclass(frozen=True)
class RunnerPorts:
    """What the step runner needs."""

    settings: Settings
    workflows: WorkflowRepository
    runs: RunRepository
    credentials: CredentialRepository
    project_configs: ProjectConfigCache
    upstream_clock: Clock
    outputs: OutputStore
    metrics: Metrics
    clock: Callable[[], float] = time.time


# What EventBridge reports when a Standard execution ends badly (the stack's rule sends only these).
FAILED_EXECUTION_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def execution_ended(ports: RunnerPorts, event: dict[str, Any]) -> dict[str, Any]:
    """Count a failed run from an EventBridge "Step Functions Execution Status Change" event.

    Every Standard execution of the stage that ends FAILED, TIMED_OUT or ABORTED arrives here
    once, however it ended: a step's failure handled by `Tether.RecordFailure`, the execution's
    own timeout, an operator's StopExecution, a States.Runtime error outside any Catch. Anything
    else (another stage's machine, another status) is ignored."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, dict) else {}
    status = str(detail.get("status", ""))
    machine = str(detail.get("stateMachineArn", ""))
    if (
        status not in FAILED_EXECUTION_STATUSES
        or f":stateMachine:{StageNames(ports.settings.stage).state_machine_prefix}" not in machine
    ):
        return {"ignored": True}
    execution_arn = str(detail.get("executionArn", ""))
    ports.metrics.failed_run(
        status=status,
        error=str(detail.get("error") or f"States.{status}"),
        executionArn=execution_arn,
        runId=str(detail.get("name", "")),
    )
    return {"counted": execution_arn}


def handle(ports: RunnerPorts, event: dict[str, Any]) -> dict[str, Any]:
    """Run one action for a state machine (see the compiler for the payload)."""
    action = event.get("action")
    project_id, workflow_id, version = str(event["project"]), str(event["workflow"]), int(event["version"])
    state: dict[str, Any] = event.get("state") or {}
    run_id = str((state.get("run") or {}).get("id", ""))
    if action == "record_success":
        ports.runs.finish(project_id, run_id, "SUCCEEDED", utc_now_iso())
        return {}
    if action == "record_failure":
        failure = state.get("failure") or {}
        error = {"error": str(failure.get("Error", "Error")), "cause": _cause(failure.get("Cause"))}
        ports.runs.finish(project_id, run_id, "FAILED", utc_now_iso(), error)
        return {}
    definition = _definition(ports.workflows, project_id, workflow_id, version)
    step = definition.step(str(event.get("stepId")))
    if step is not None:
        try:
            state = _with_stored_outputs(ports.outputs, state, step)
        except TetherError as error:
            raise TetherTransientError(f"Step {step.id}: {error.message}") from None
    context = templates.template_context(state)
    try:
        if action == "evaluate_condition" and isinstance(step, ConditionStep):
            return {"output": conditions.evaluate(step.condition, context)}
        if action == "evaluate_items" and isinstance(step, FanOutStep):
            items = templates.resolve(step.over, context)
            if not isinstance(items, list):
                raise TetherStepFailed(f"Step {step.id}: 'over' must give a list, not {type(items).__name__}.")
            return {"output": items}
        if action == "respond" and isinstance(step, ResponseStep):
            return {"status": templates.resolve(step.status, context), "body": templates.resolve(step.body, context)}
    except TetherError as error:
        raise TetherStepFailed(f"Step {step.id if step else '?'}: {error.message}") from None
    if action == "run_step" and isinstance(step, RequestStep | HttpStep):
        return _run_step(ports, definition, step, project_id, run_id, state, int(event.get("attempt") or 0))
    raise TetherStepFailed(f"Unknown runner action {action!r} for step {event.get('stepId')!r}.")


def _position(state: dict[str, Any]) -> tuple[int, ...]:
    """Where the step runs in the fan_outs around it, outermost first (empty outside them).

    A fan_out's iteration state holds its `index`, and inside a nested fan_out `within`: the
    `{index, within}` of the iteration around it (the compiler's `ItemSelector` writes both)."""
    if "item" not in state:
        return ()
    found: list[int] = []
    level: Any = state
    while isinstance(level, dict) and isinstance(level.get("index"), int):
        found.append(level["index"])
        level = level.get("within")
    return tuple(reversed(found))


def _run_step(
    ports: RunnerPorts,
    definition: WorkflowDefinition,
    step: RequestStep | HttpStep,
    project_id: str,
    run_id: str,
    state: dict[str, Any],
    attempt: int,
) -> dict[str, Any]:
    position = _position(state)
    index = position[-1] if position else None
    started_at = utc_now_iso()
    if attempt > 0:
        earlier = ports.runs.get_step(project_id, run_id, step.id, position)
        if earlier is not None:
            started_at = earlier.started_at
    expires_at = int(ports.clock()) + ports.settings.run_history_days * 24 * 3600
    max_attempts = DEFAULT_RETRY.with_override(step.retry).max_attempts
    resolved: dict[str, Any] | None = None

    def record(status: StepStatus, output: Any, error: dict[str, Any] | None, http_status: int | None) -> None:
        ended = None if status == "RUNNING" else utc_now_iso()
        ports.runs.put_step(
            project_id,
            run_id,
            StepRecord(
                step.id,
                index,
                status,
                attempt + 1,
                _redacted(resolved),
                output,
                error,
                started_at,
                ended,
                http_status,
                outer=position[:-1],
            ),
            expires_at,
        )

    try:
        context = templates.template_context(state)
        resolved = _resolved_input(step, context)
        if isinstance(step, RequestStep):
            status, output = _request(ports, definition, step, resolved, project_id, state)
        else:
            status, output = _http(ports, step, resolved)
    except _Transient as failure:
        final = attempt + 1 >= max_attempts
        record("FAILED" if final else "RUNNING", failure.output, failure.error, failure.status)
        raise TetherTransientError(failure.message) from None
    except _Permanent as failure:
        record("FAILED", failure.output, failure.error, failure.status)
        raise TetherStepFailed(failure.message) from None
    except Exception as exc:
        log.exception("step %s of run %s failed unexpectedly", step.id, run_id)
        record("FAILED", None, {"code": "internal_error", "message": f"Unexpected {type(exc).__name__}."}, None)
        raise
    if _json_size(output) > ports.settings.large_output_bytes:
        suffix = "".join(f"-{at}" for at in position)
        try:
            output = ports.outputs.put(f"runs/{project_id}/{run_id}/{step.id}{suffix}.json", output)
        except TetherError as error:
            record(
                "FAILED" if attempt + 1 >= max_attempts else "RUNNING",
                None,
                {"code": error.code, "message": error.message},
                status,
            )
            raise TetherTransientError(f"Step {step.id}: {error.message}") from None
    record("SUCCEEDED", output, None, status)
    return {"output": output, "status": status}


class _Failure(Exception):
    def __init__(self, message: str, code: str, status: int | None = None, output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.output = output
        self.error = {"code": code, "message": message}


class _Transient(_Failure):
    pass


class _Permanent(_Failure):
    pass


def _resolved_input(step: RequestStep | HttpStep, context: dict[str, Any]) -> dict[str, Any]:
    try:
        fields: dict[str, Any] = {"method": step.method}
        if isinstance(step, RequestStep):
            fields["path"] = templates.resolve(step.path, context)
            if step.credential_id is not None:
                fields["credentialId"] = templates.resolve(step.credential_id, context)
        else:
            fields["url"] = templates.resolve(step.url, context)
        for name, value in (("query", step.query), ("headers", step.headers), ("body", step.body)):
            if value is not None:
                fields[name] = templates.resolve(value, context)
    except TetherError as error:
        raise _Permanent(f"Step {step.id}: {error.message}", error.code) from None
    return fields


def _request(
    ports: RunnerPorts,
    definition: WorkflowDefinition,
    step: RequestStep,
    resolved: dict[str, Any],
    project_id: str,
    state: dict[str, Any],
) -> tuple[int, Any]:
    config = ports.project_configs.get(project_id)
    if config is None:
        raise _Permanent("The project no longer exists.", "project_not_found")
    path = resolved["path"]
    if not isinstance(path, str):
        raise _Permanent(f"Step {step.id}: 'path' must resolve to text.", "invalid_template")
    body = resolved.get("body")
    headers = {str(k): _text(v) for k, v in (resolved.get("headers") or {}).items()}
    raw_body: bytes | None = None
    if body is not None:
        raw_body = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json" if not isinstance(body, str) else "auto"
    call = proxy.ProxyCall(
        integration_type=definition.integration,
        segments=path.strip("/").split("/"),
        method=step.method,
        query=_query_pairs(resolved.get("query")),
        headers=headers,
        body=raw_body,
        credential_id=_text(resolved["credentialId"]) if resolved.get("credentialId") else None,
    )
    user = VerifiedUser(project_id, str((state.get("user") or {}).get("id", "")), {})
    try:
        response = proxy.proxy_request(
            ports.settings,
            ports.credentials,
            config,
            user,
            call,
            ports.upstream_clock.now(),
            ports.upstream_clock,
            RetryPolicy(max_attempts=1),
        )
    except TetherError as error:
        if error.code in TRANSIENT_CODES or error.status == 429:
            raise _Transient(f"Step {step.id}: {error.message}", error.code) from None
        raise _Permanent(f"Step {step.id}: {error.message}", error.code) from None
    return _classified(step.id, response.status, _parsed(response))


def _http(ports: RunnerPorts, step: HttpStep, resolved: dict[str, Any]) -> tuple[int, Any]:
    url = resolved["url"]
    if not isinstance(url, str):
        raise _Permanent(f"Step {step.id}: 'url' must resolve to text.", "invalid_template")
    query = _query_pairs(resolved.get("query"))
    if query:
        from urllib.parse import urlencode

        url += ("&" if "?" in url else "?") + urlencode(query)
    headers = {str(k): _text(v) for k, v in (resolved.get("headers") or {}).items()}
    body = resolved.get("body")
    raw_body: bytes | None = None
    if body is not None:
        raw_body = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
        if not isinstance(body, str) and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    try:
        answer = public_http.call(
            step.method,
            url,
            headers,
            raw_body,
            timeout=HTTP_STEP_TIMEOUT_SECONDS,
            max_bytes=ports.settings.max_proxy_response_bytes,
            allow_loopback=ports.settings.allow_loopback_http_steps,
            ca_bundle=ports.settings.http_steps_ca_bundle,
        )
    except TetherError as error:
        if error.code in TRANSIENT_CODES:
            raise _Transient(f"Step {step.id}: {error.message}", error.code) from None
        raise _Permanent(f"Step {step.id}: {error.message}", error.code) from None
    content_type = answer.headers.get("Content-Type") or answer.headers.get("content-type") or ""
    return _classified(step.id, answer.status, _parse_body(answer.body, content_type))


def _classified(step_id: str, status: int, output: Any) -> tuple[int, Any]:
    if status in TRANSIENT_STATUSES:
        raise _Transient(f"Step {step_id}: the API answered {status}.", "upstream_error", status, output)
    if status >= 400:
        raise _Permanent(f"Step {step_id}: the API answered {status}.", "upstream_error", status, output)
    return status, output


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _with_stored_outputs(outputs: OutputStore, state: dict[str, Any], step: Step) -> dict[str, Any]:
    """The state with the large outputs this step's templates read put back in place of their
    references (only those: a run may hold many)."""
    wanted = _referenced_step_ids(step)
    changed = dict(state)
    for group in ("steps", "outerSteps"):
        results = state.get(group)
        if not isinstance(results, dict):
            continue
        fixed = dict(results)
        for step_id, result in results.items():
            if step_id in wanted and isinstance(result, dict) and is_reference(result.get("output")):
                fixed[step_id] = {**result, "output": outputs.get(result["output"])}
        changed[group] = fixed
    return changed


def _referenced_step_ids(step: Step) -> set[str]:
    found: set[str] = set()
    for _, text in templates.iter_strings(step.to_dict(), "$"):
        if templates.has_template(text):
            for expression in templates.parse(text).expressions:
                found.update(templates.step_references(expression))
    return found


def _parsed(response: UpstreamResponse) -> Any:
    return _parse_body(response.body, response.header("Content-Type") or "")


def _parse_body(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"binary": True, "bytes": len(body), "contentType": content_type}


def _query_pairs(query: Any) -> list[tuple[str, str]]:
    if not query:
        return []
    pairs: list[tuple[str, str]] = []
    for key, value in dict(query).items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((str(key), _text(item)) for item in values if item is not None)
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _redacted(resolved: dict[str, Any] | None) -> dict[str, Any] | None:
    if resolved is None or not resolved.get("headers"):
        return resolved
    headers = {
        name: REDACTED if any(word in name.lower() for word in _SENSITIVE_HEADER_WORDS) else value
        for name, value in resolved["headers"].items()
    }
    return {**resolved, "headers": headers}


def _cause(raw: Any) -> str:
    """The failure's cause as text: a Lambda error's message, else Step Functions' own words."""
    if not isinstance(raw, str):
        return "" if raw is None else str(raw)[:2000]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw[:2000]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])[:2000]
    return raw[:2000]


def _definition(workflows: WorkflowRepository, project_id: str, workflow_id: str, version: int) -> WorkflowDefinition:
    return _cached_definition(workflows, project_id, workflow_id, version)


@lru_cache(maxsize=256)
def _cached_definition(
    workflows: WorkflowRepository, project_id: str, workflow_id: str, version: int
) -> WorkflowDefinition:
    """Versions never change, so a container parses each one once."""
    deployed = workflows.get_version(project_id, workflow_id, version)
    if deployed is None:
        raise TetherStepFailed(f"Workflow {workflow_id} version {version} no longer exists.")
    return parse_workflow(deployed.definition, integrations=CATALOGUE.keys())
