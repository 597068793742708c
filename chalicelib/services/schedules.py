"""Schedule triggers: keeping a workflow's EventBridge schedule in step with its definition, and
the dispatcher that turns one tick into one run per user who has the workflow enabled.

The same `dispatch_tick` serves EventBridge Scheduler (through the `schedule_dispatcher` Lambda)
and the local stack's scheduler loop. A tick is idempotent: each user's run id and trigger claim
derive from the workflow, the user and the tick time, so a tick delivered twice starts nothing new.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.schedules import Schedules, catch_up_name, schedule_name
from chalicelib.domain.errors import TetherError
from chalicelib.domain.models import EndUser
from chalicelib.domain.workflows import schedule
from chalicelib.domain.workflows.records import DeployedWorkflow
from chalicelib.services.workflow_runs import IDEMPOTENCY_SECONDS, RunPorts, claim_hash, is_connected, start_run

log = logging.getLogger("tether.workflows")


@dataclass
class TickResult:
    """What one dispatch of a tick did."""

    scheduled_at: str
    started: list[str] = field(default_factory=list)  # run ids started now
    repeated: int = 0  # users whose run for this tick had started already
    skipped: int = 0  # users with the workflow off or the integration not connected
    failed: int = 0  # runs recorded FAILED because they could not start
    next_cursor: str | None = None  # users still to go (the dispatch ran out of time)
    ignored: str | None = None  # why the tick started nothing at all

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the Lambda's answer."""
        return {
            "scheduledAt": self.scheduled_at,
            "started": len(self.started),
            "repeated": self.repeated,
            "skipped": self.skipped,
            "failed": self.failed,
            "nextCursor": self.next_cursor,
            "ignored": self.ignored,
        }


# ---- the workflow's schedule in EventBridge Scheduler ------------------------------------------


def target_input(project_id: str, workflow_id: str) -> dict[str, Any]:
    """What the schedule sends the dispatcher (EventBridge adds `scheduledAt`)."""
    return {"projectId": project_id, "workflowId": workflow_id}


def is_scheduled(definition: dict[str, Any] | None) -> bool:
    """True for a definition with a schedule trigger."""
    return definition is not None and definition.get("trigger", {}).get("type") == "schedule"


def put_schedule(
    schedules: Schedules, stage: str, project_id: str, workflow_id: str, trigger: dict[str, Any], now: datetime
) -> None:
    """Create or update the workflow's schedule, and arm the catch-up for its next tick if
    EventBridge would skip it."""
    cron, timezone = str(trigger["cron"]), str(trigger["timezone"])
    schedules.put(
        schedule_name(stage, project_id, workflow_id),
        schedule.eventbridge_expression(cron),
        timezone,
        target_input(project_id, workflow_id),
    )
    arm_catch_up(schedules, stage, project_id, workflow_id, trigger, now)


def remove_schedule(schedules: Schedules, stage: str, project_id: str, workflow_id: str) -> None:
    """Delete the workflow's schedules (the recurring one and a pending catch-up)."""
    schedules.delete(schedule_name(stage, project_id, workflow_id))
    schedules.delete(catch_up_name(stage, project_id, workflow_id))


def arm_catch_up(
    schedules: Schedules, stage: str, project_id: str, workflow_id: str, trigger: dict[str, Any], after: datetime
) -> None:
    """When the next tick after `after` is a daylight-saving catch-up (a fixed-time job whose time
    does not exist that day), schedule it once: EventBridge Scheduler skips such ticks."""
    cron, timezone = str(trigger["cron"]), str(trigger["timezone"])
    tick = schedule.next_tick(cron, timezone, after)
    if schedule.is_catch_up(cron, timezone, tick):
        schedules.put_once(catch_up_name(stage, project_id, workflow_id), tick, target_input(project_id, workflow_id))


# ---- the dispatcher ----------------------------------------------------------------------------


def dispatch_tick(
    ports: RunPorts,
    project_id: str,
    workflow_id: str,
    scheduled_at: datetime,
    *,
    cursor: str | None = None,
    more_time: Callable[[], bool] = lambda: True,
) -> TickResult:
    """Start the tick's run for every user who has the workflow enabled and the integration
    connected, a page of users (`schedule_page_size`) at a time. When `more_time()` turns false between pages, the
    result's `next_cursor` says where to go on.

    A tick that is not one of the workflow's (its schedule changed, or it was deleted or
    re-deployed with another trigger) starts nothing."""
    tick = schedule.tick_id(scheduled_at)
    result = TickResult(tick)
    workflow = ports.workflows.get(project_id, workflow_id)
    reason = _not_a_tick(workflow, scheduled_at)
    if reason is not None:
        result.ignored = reason
        log.info("schedule tick %s of %s/%s ignored: %s", tick, project_id, workflow_id, reason)
        return result
    assert workflow is not None
    claim = claim_hash("schedule", tick)
    trigger = {"type": "schedule", "scheduledAt": tick}
    while True:
        users, cursor = ports.users.list_users(project_id, ports.settings.schedule_page_size, cursor)
        for user in users:
            _dispatch_user(ports, workflow, user, tick, claim, trigger, result)
        if cursor is None or not more_time():
            break
    result.next_cursor = cursor
    log.info("schedule tick %s of %s/%s: %s", tick, project_id, workflow_id, result.summary())
    return result


def scheduled_run_id(workflow_id: str, user_id: str, tick: str) -> str:
    """The run (and execution name) of one user's run for one tick."""
    return hashlib.sha256(f"schedule\n{workflow_id}\n{user_id}\n{tick}".encode()).hexdigest()[:32]


def _dispatch_user(
    ports: RunPorts,
    workflow: DeployedWorkflow,
    user: EndUser,
    tick: str,
    claim: str,
    trigger: dict[str, Any],
    result: TickResult,
) -> None:
    project_id, user_id = workflow.project_id, user.user_id
    state = ports.workflows.user_state(project_id, user_id, workflow.id)
    if not state.is_enabled(workflow) or not is_connected(ports, project_id, user_id, workflow.integration):
        result.skipped += 1
        return
    run_id = scheduled_run_id(workflow.id, user_id, tick)
    expires_at = int(ports.clock()) + IDEMPOTENCY_SECONDS
    # A claim already there is an earlier delivery's. Its run exists unless that delivery stopped
    # between the claim and the start: then this one starts it (same run id, same execution name).
    claimed = ports.workflows.claim_trigger(project_id, user_id, workflow.id, claim, run_id, expires_at)
    if claimed is not None and ports.runs.get(project_id, run_id) is not None:
        result.repeated += 1
        return
    try:
        start_run(ports, workflow, user_id, trigger, run_id=run_id, known=(user, state))
    except TetherError as error:
        result.failed += 1
        log.error("scheduled run %s did not start: %s", run_id, error.code)
        return
    result.started.append(run_id)


def _not_a_tick(workflow: DeployedWorkflow | None, scheduled_at: datetime) -> str | None:
    if workflow is None:
        return "the workflow no longer exists"
    trigger = workflow.trigger
    if trigger.get("type") != "schedule":
        return "the workflow is no longer schedule-triggered"
    cron, timezone = str(trigger["cron"]), str(trigger["timezone"])
    # One of the schedule's ticks as cronsim counts them, or a time its cron matches on the local
    # wall clock (EventBridge may pick the other of a fall-back day's two 02:30s).
    if schedule.next_tick(cron, timezone, scheduled_at - timedelta(minutes=1)) == scheduled_at:
        return None
    if not schedule.is_catch_up(cron, timezone, scheduled_at):
        return None
    return "the time is not one of the schedule's ticks"
