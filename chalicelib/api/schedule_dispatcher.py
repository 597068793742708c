"""The schedule dispatcher Lambda's entry point (registered in app.py with `@app.lambda_function`).

EventBridge Scheduler invokes it with `{projectId, workflowId, scheduledAt}`, one schedule per
workflow. Chalice's `@app.schedule` does not fit: it makes one EventBridge rule per decorated
function when the app is deployed, in UTC, whereas workflows and their time zones come and go at
run time through the admin API.

A tick with more users than one invocation can start hands the rest to a new asynchronous
invocation of this function (`cursor` in the event) before its own time runs out.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.adapters import aws
from chalicelib.domain.errors import TetherError
from chalicelib.domain.workflows.schedule import ScheduleError, parse_tick
from chalicelib.services.schedules import arm_catch_up, dispatch_tick
from chalicelib.wiring import get_services

log = logging.getLogger("tether.workflows")

# Stop taking new pages of users when less than this much of the invocation's time is left.
HANDOFF_MILLIS = 60_000


def dispatch_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Dispatch one tick (or the rest of one, from `cursor`). A malformed event is dropped with a
    log line (retrying it cannot help); a storage or engine failure raises, so the invocation is
    retried, which the tick's idempotency makes safe."""
    try:
        project_id, workflow_id = _text(event, "projectId"), _text(event, "workflowId")
        scheduled_at = parse_tick(event.get("scheduledAt"))
        cursor = event.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise ScheduleError("'cursor' must be a string.")
    except (ScheduleError, AttributeError) as error:
        log.error("schedule event dropped: %s", error)
        return {"ignored": str(error)}
    services = get_services()

    def more_time() -> bool:
        return context is None or context.get_remaining_time_in_millis() > HANDOFF_MILLIS

    result = dispatch_tick(
        services.run_ports, project_id, workflow_id, scheduled_at, cursor=cursor, more_time=more_time
    )
    if result.next_cursor is not None:
        rest = {**event, "cursor": result.next_cursor}
        aws.lambda_client().invoke(
            FunctionName=context.invoked_function_arn, InvocationType="Event", Payload=json.dumps(rest).encode()
        )
    elif cursor is None and result.ignored is None:
        workflow = services.workflows.get(project_id, workflow_id)
        if workflow is not None:
            try:
                arm_catch_up(
                    services.schedules, services.settings.stage, project_id, workflow_id, workflow.trigger, scheduled_at
                )
            except TetherError as error:
                log.error("daylight-saving catch-up of %s/%s not scheduled: %s", project_id, workflow_id, error.code)
    return result.summary()


def _text(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise ScheduleError(f"'{name}' must be a non-empty string.")
    return value
