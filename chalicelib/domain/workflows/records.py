"""Stored workflow records: deployed versions, each end user's workflow state, runs and steps.

Plain data, no boto3. JSON documents (definitions, trigger inputs, step inputs and outputs) are
kept as parsed JSON here; the repositories store them as JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
RUN_STATUSES: tuple[RunStatus, ...] = ("RUNNING", "SUCCEEDED", "FAILED")
# A step that failed transiently and will be tried again stays RUNNING (its error is the last one).
StepStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]


@dataclass(frozen=True)
class DeployedWorkflow:
    """One deployed version of a workflow: its canonical definition and its state machine."""

    project_id: str
    id: str
    version: int
    definition: dict[str, Any]
    state_machine_arn: str
    created_at: str
    updated_at: str
    # The unguessable id in a webhook-triggered workflow's intake URL (None for other triggers).
    webhook_id: str | None = None
    # When this (superseded) version's state machine was deleted, once no run could need it.
    retired_at: str | None = None

    @property
    def integration(self) -> str:
        """The integration the workflow acts on."""
        return str(self.definition["integration"])

    @property
    def trigger(self) -> dict[str, Any]:
        """The trigger, canonical JSON."""
        trigger: dict[str, Any] = self.definition["trigger"]
        return trigger

    @property
    def default_enabled(self) -> bool:
        """Whether users who never chose run it."""
        return bool(self.definition.get("defaultEnabled", False))


@dataclass(frozen=True)
class UserWorkflowState:
    """What one end user chose for one workflow. `enabled` is None until they choose."""

    workflow_id: str
    enabled: bool | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None

    def is_enabled(self, workflow: DeployedWorkflow) -> bool:
        """The user's choice, or the workflow's default when they never made one."""
        return workflow.default_enabled if self.enabled is None else self.enabled


@dataclass(frozen=True)
class RunRecord:
    """One run of one workflow version for one end user."""

    id: str
    project_id: str
    workflow_id: str
    version: int
    user_id: str
    status: RunStatus
    trigger: dict[str, Any]
    started_at: str
    ended_at: str | None = None
    error: dict[str, Any] | None = None
    execution_arn: str | None = None
    replay_of: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """What one step did in a run (`index` is the iteration inside a fan_out; `outer` the
    iterations of the fan_outs around that one, outermost first)."""

    step_id: str
    index: int | None
    status: StepStatus
    attempts: int
    input: Any
    output: Any
    error: dict[str, Any] | None
    started_at: str
    ended_at: str | None
    http_status: int | None = None
    outer: tuple[int, ...] = ()

    @property
    def position(self) -> tuple[int, ...]:
        """Where in the fan_outs this record sits: `outer` then `index` (empty outside them)."""
        return () if self.index is None else (*self.outer, self.index)
