"""Use cases of the workflow admin API: deploy a definition as a new version, read, list, delete."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.adapters.schedules import Schedules
from chalicelib.adapters.state_machines import StateMachines, state_machine_name
from chalicelib.adapters.webhook_repository import WebhookRepository
from chalicelib.adapters.workflow_repository import WorkflowRepository
from chalicelib.config import Settings
from chalicelib.domain.errors import BadRequest, Conflict, NotFound, TetherError
from chalicelib.domain.providers import CATALOGUE
from chalicelib.domain.workflows.compiler import RetryPolicy, StateMachine, compile_workflow
from chalicelib.domain.workflows.model import WorkflowDefinition
from chalicelib.domain.workflows.records import DeployedWorkflow
from chalicelib.domain.workflows.validation import InvalidWorkflow, Problem, parse_workflow
from chalicelib.services.schedules import is_scheduled, put_schedule, remove_schedule

log = logging.getLogger("tether.workflows")

WORKFLOW_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Triggers this version of the engine can start; the others are accepted by the validator so that
# definitions written for them fail with one clear problem rather than a list of unknown fields.
SUPPORTED_TRIGGERS = ("app_event", "request", "integration_enabled", "webhook", "schedule")
HOOK_ID_BYTES = 24  # 192 random bits, not derived from any id
WEBHOOK_SECRET_BYTES = 32


@dataclass(frozen=True)
class WorkflowPorts:
    """What the workflow admin use cases need."""

    settings: Settings
    workflows: WorkflowRepository
    state_machines: StateMachines
    webhooks: WebhookRepository
    schedules: Schedules


@dataclass(frozen=True)
class Deployment:
    """A deployed version, and the webhook secret when this deploy created the webhook (shown once)."""

    workflow: DeployedWorkflow
    webhook_secret: str | None = field(default=None, repr=False)


def check_workflow_id(workflow_id: str) -> str:
    """A workflow id: 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit."""
    if not WORKFLOW_ID.fullmatch(workflow_id):
        raise BadRequest(
            "A workflow id is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit.",
            code="invalid_workflow_id",
        )
    return workflow_id


def parse_definition(raw: Any) -> WorkflowDefinition:
    """Validate a definition as the engine runs it; every problem is listed in one 400."""
    definition = parse_workflow(raw, integrations=CATALOGUE.keys())
    if definition.trigger.type not in SUPPORTED_TRIGGERS:
        raise InvalidWorkflow(
            [
                Problem(
                    "$.trigger.type",
                    f"'{definition.trigger.type}' triggers are not available in this version of Tether; "
                    f"use one of: {', '.join(SUPPORTED_TRIGGERS)}.",
                )
            ]
        )
    return definition


def retry_policy(settings: Settings) -> RetryPolicy:
    """The deployment's default retry policy for transient step failures."""
    return RetryPolicy(interval_seconds=settings.workflow_retry_interval_seconds)


def compile_version(settings: Settings, project_id: str, workflow_id: str, version: int, raw: Any) -> StateMachine:
    """The state machine a definition compiles to for one version (what `show --asl` prints)."""
    definition = parse_definition(raw)
    return compile_workflow(
        definition,
        runner_arn=settings.step_runner_arn,
        project_id=project_id,
        workflow_id=workflow_id,
        version=version,
        retry=retry_policy(settings),
    )


def deploy_workflow(ports: WorkflowPorts, project_id: str, workflow_id: str, raw: Any, now: str) -> Deployment:
    """Validate, compile and deploy a definition as the workflow's next version.

    An invalid definition changes nothing (400 `invalid_workflow`). Runs already started keep
    running on the version they started with. A webhook-triggered workflow gets its intake URL
    and secret on the deploy that makes it one; later versions keep both."""
    check_workflow_id(workflow_id)
    definition = parse_definition(raw)
    current = ports.workflows.get(project_id, workflow_id)
    version = current.version + 1 if current else ports.workflows.latest_version_number(project_id, workflow_id) + 1
    machine = compile_workflow(
        definition,
        runner_arn=ports.settings.step_runner_arn,
        project_id=project_id,
        workflow_id=workflow_id,
        version=version,
        retry=retry_policy(ports.settings),
    )
    webhook_id = current.webhook_id if current else None
    new_secret: str | None = None
    if definition.trigger.type == "webhook" and webhook_id is None:
        webhook_id = secrets.token_urlsafe(HOOK_ID_BYTES)
        new_secret = "whsec_" + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)
    dropped_webhook = webhook_id if definition.trigger.type != "webhook" else None
    arn = ports.state_machines.create(
        state_machine_name(ports.settings.stage, project_id, workflow_id, version),
        machine.to_json(),
        machine.type,
        {"tether:project": project_id, "tether:workflow": workflow_id, "tether:version": str(version)},
    )
    deployed = DeployedWorkflow(
        project_id=project_id,
        id=workflow_id,
        version=version,
        definition=definition.to_dict(),
        state_machine_arn=arn,
        created_at=current.created_at if current else now,
        updated_at=now,
        webhook_id=None if dropped_webhook else webhook_id,
    )
    stage = ports.settings.stage
    try:
        # The webhook's secret only once its state machine exists, and inside the undo below: a
        # deploy that fails never leaves a secret (or a live URL) behind.
        if new_secret is not None and webhook_id is not None:
            ports.webhooks.create(webhook_id, project_id, workflow_id, new_secret)
        # The schedule first: when EventBridge refuses it, nothing is saved.
        if is_scheduled(deployed.definition):
            put_schedule(ports.schedules, stage, project_id, workflow_id, deployed.trigger, datetime.fromisoformat(now))
        ports.workflows.save_version(deployed, current.version if current else None)
    except Exception:
        ports.state_machines.delete(arn)  # nothing points at it: do not leave it behind
        if new_secret is not None and webhook_id is not None:
            ports.webhooks.delete(webhook_id)
        if is_scheduled(deployed.definition):
            _restore_schedule(ports, project_id, workflow_id, now)
        raise
    if dropped_webhook:
        ports.webhooks.delete(dropped_webhook)  # no longer a webhook workflow: the URL stops working
    if current is not None and is_scheduled(current.definition) and not is_scheduled(deployed.definition):
        _remove_schedule_quietly(ports, project_id, workflow_id)
    retire_superseded_versions(ports, project_id, workflow_id, now)
    return Deployment(deployed, new_secret)


def retire_superseded_versions(ports: WorkflowPorts, project_id: str, workflow_id: str, now: str) -> list[int]:
    """Delete the state machines of old versions no run can still need; returns their numbers.

    A version is retired when it stopped being current at least `retire_versions_after_seconds`
    ago (longer than any caller holds a version it read before starting a run on it, and than an
    Express execution lasts) and, for a Standard machine, none of its executions is running
    (deleting a machine stops them). Its record stays, with `retiredAt`, for the run history.
    Best effort: a failure is logged and the deploy that called this stands."""
    retired: list[int] = []
    versions = ports.workflows.versions(project_id, workflow_id)
    superseded_at = {older.version: newer.updated_at for older, newer in itertools.pairwise(versions)}
    moment = datetime.fromisoformat(now)
    for version in versions:
        replaced = superseded_at.get(version.version)
        if version.retired_at is not None or replaced is None:
            continue
        if (moment - datetime.fromisoformat(replaced)).total_seconds() < ports.settings.retire_versions_after_seconds:
            continue
        try:
            express = version.trigger.get("type") == "request"
            if not express and ports.state_machines.has_running_executions(version.state_machine_arn):
                continue
            ports.state_machines.delete(version.state_machine_arn)
            ports.workflows.mark_retired(project_id, workflow_id, version.version, now)
        except TetherError as error:
            log.warning("could not retire version %d of a workflow: %s", version.version, error.code)
            continue
        retired.append(version.version)
    return retired


def get_workflow(workflows: WorkflowRepository, project_id: str, workflow_id: str) -> DeployedWorkflow:
    """The workflow's current version, or 404."""
    check_workflow_id(workflow_id)
    workflow = workflows.get(project_id, workflow_id)
    if workflow is None:
        raise NotFound("No workflow with this id in this project.", code="workflow_not_found")
    return workflow


def delete_workflow(ports: WorkflowPorts, project_id: str, workflow_id: str) -> None:
    """Remove the workflow: no new runs start. Its state machines are deleted too, which stops
    runs still in flight (their records then show the execution's end when read)."""
    workflow = get_workflow(ports.workflows, project_id, workflow_id)
    if not ports.workflows.delete(project_id, workflow_id, workflow.version):
        raise NotFound("No workflow with this id in this project.", code="workflow_not_found")
    if workflow.webhook_id:
        ports.webhooks.delete(workflow.webhook_id)
    if is_scheduled(workflow.definition):
        _remove_schedule_quietly(ports, project_id, workflow_id)
    for version in ports.workflows.versions(project_id, workflow_id):
        ports.state_machines.delete(version.state_machine_arn)


def _restore_schedule(ports: WorkflowPorts, project_id: str, workflow_id: str, now: str) -> None:
    """After a failed deploy, put the schedule back as the stored workflow has it."""
    try:
        stored = ports.workflows.get(project_id, workflow_id)
        when = datetime.fromisoformat(now)
        if stored is not None and is_scheduled(stored.definition):
            put_schedule(ports.schedules, ports.settings.stage, project_id, workflow_id, stored.trigger, when)
        else:
            remove_schedule(ports.schedules, ports.settings.stage, project_id, workflow_id)
    except TetherError as error:
        log.error("schedule of %s/%s not restored: %s", project_id, workflow_id, error.code)


def _remove_schedule_quietly(ports: WorkflowPorts, project_id: str, workflow_id: str) -> None:
    """Delete a schedule the workflow no longer has. Should that fail, its ticks start nothing
    (the dispatcher checks the stored trigger), so the change still stands."""
    try:
        remove_schedule(ports.schedules, ports.settings.stage, project_id, workflow_id)
    except TetherError as error:
        log.error("schedule of %s/%s not deleted: %s", project_id, workflow_id, error.code)


def webhook_url(settings: Settings, hook_id: str) -> str:
    """Where a webhook's deliveries go."""
    return f"{settings.public_url}/hooks/{hook_id}"


def workflow_view(settings: Settings, workflow: DeployedWorkflow, webhook_secret: str | None = None) -> dict[str, Any]:
    """The admin API's view of a workflow: id, version, the definition and timestamps, the
    webhook URL of a webhook workflow, and its secret only when this call created it."""
    view: dict[str, Any] = {
        "id": workflow.id,
        "version": workflow.version,
        **workflow.definition,
        "createdAt": workflow.created_at,
        "updatedAt": workflow.updated_at,
    }
    if workflow.webhook_id:
        view["webhookUrl"] = webhook_url(settings, workflow.webhook_id)
    if webhook_secret:
        view["webhookSecret"] = webhook_secret
    return view


def rotate_webhook_secret(
    ports: WorkflowPorts, project_id: str, workflow_id: str, grace_seconds: int, now: float
) -> dict[str, Any]:
    """Give the webhook a new secret; the previous one keeps working for `grace_seconds`."""
    workflow = get_workflow(ports.workflows, project_id, workflow_id)
    if not workflow.webhook_id:
        raise BadRequest("This workflow is not triggered by a webhook.", code="not_a_webhook_workflow")
    current = next(iter(ports.webhooks.secrets(workflow.webhook_id, now)), None)
    if current is None or current.valid_until is not None:
        raise Conflict("The webhook has no current secret; rotate again.", code="webhook_conflict")
    new_secret = "whsec_" + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)
    until = int(now) + grace_seconds
    ports.webhooks.rotate(current, new_secret, until)
    return {
        "webhookUrl": webhook_url(ports.settings, workflow.webhook_id),
        "webhookSecret": new_secret,
        "previousSecretValidUntil": until,
    }
