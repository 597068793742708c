"""EventBridge Scheduler: one schedule per schedule-triggered workflow, invoking the dispatcher."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import BadRequest, TetherError, UpstreamError

log = logging.getLogger("tether.workflows")

# EventBridge Scheduler fills this in with the time the tick was due (ISO 8601, UTC).
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# A tick not delivered within an hour is dropped rather than run late.
MAX_EVENT_AGE_SECONDS = 3600
RETRY_ATTEMPTS = 10


class SchedulerUnavailable(TetherError):
    """EventBridge Scheduler refused or could not be reached."""

    status = 503
    code = "scheduler_unavailable"


def schedule_name(stage: str, project_id: str, workflow_id: str) -> str:
    """The workflow's schedule: `tether-<stage>-<digest>`, within the 64 characters and alphabet
    EventBridge Scheduler allows whatever the ids hold."""
    digest = hashlib.sha256(f"{project_id}\n{workflow_id}".encode()).hexdigest()[:32]
    return f"tether-{stage[:20]}-{digest}"


def catch_up_name(stage: str, project_id: str, workflow_id: str) -> str:
    """The workflow's one-time schedule for a tick EventBridge skips (a daylight-saving jump)."""
    return schedule_name(stage, project_id, workflow_id) + "-dst"


class Schedules:
    """The EventBridge Scheduler calls the workflow engine makes."""

    def __init__(self, client_factory: Callable[[], Any], target_arn: str, role_arn: str) -> None:
        self._client_factory = client_factory
        self._target_arn = target_arn
        self._role_arn = role_arn

    def put(self, name: str, expression: str, timezone: str, target_input: dict[str, Any]) -> None:
        """Create the schedule, or update it when it exists."""
        request = self._request(name, expression, timezone, target_input)
        client = self._client_factory()
        try:
            client.create_schedule(**request)
            return
        except ClientError as exc:
            if _code(exc) != "ConflictException":
                raise _scheduler_error("CreateSchedule", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("CreateSchedule", exc) from None
        try:
            client.update_schedule(**request)
        except ClientError as exc:
            raise _scheduler_error("UpdateSchedule", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("UpdateSchedule", exc) from None

    def put_once(self, name: str, at: datetime, target_input: dict[str, Any]) -> None:
        """A one-time schedule at `at` (UTC) that deletes itself once it has run."""
        expression = f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})"
        self.put(name, expression, "UTC", target_input)

    def delete(self, name: str) -> None:
        """Delete a schedule; one already gone is fine."""
        client = self._client_factory()
        try:
            client.delete_schedule(Name=name)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise _scheduler_error("DeleteSchedule", exc) from None
        except BotoCoreError as exc:
            raise _unreachable("DeleteSchedule", exc) from None

    def _request(self, name: str, expression: str, timezone: str, target_input: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "Name": name,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "Input": json.dumps({**target_input, "scheduledAt": SCHEDULED_TIME}, separators=(",", ":")),
                "RetryPolicy": {
                    "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
                    "MaximumRetryAttempts": RETRY_ATTEMPTS,
                },
            },
        }
        if expression.startswith("at("):
            request["ActionAfterCompletion"] = "DELETE"
        return request


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _scheduler_error(operation: str, exc: ClientError) -> TetherError:
    code = _code(exc)
    log.error("EventBridge Scheduler %s failed: %s", operation, code)
    if code in ("ThrottlingException", "ServiceQuotaExceededException", "InternalServerException"):
        return SchedulerUnavailable("The scheduler is busy; try again shortly.")
    if code == "ValidationException":
        # The one input in a request is the workflow's cron and time zone.
        return BadRequest("EventBridge Scheduler refused this cron or time zone.", code="invalid_schedule")
    return UpstreamError(f"The scheduler refused the request ({code}).", code="scheduler_error")


def _unreachable(operation: str, exc: BotoCoreError) -> TetherError:
    log.error("EventBridge Scheduler %s failed: %s", operation, type(exc).__name__)
    return SchedulerUnavailable("The scheduler could not be reached; try again shortly.")
