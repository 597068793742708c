"""Schedule triggers: cron in a time zone (cronsim), daylight-saving days, the dispatcher (once per
enabled, connected user; idempotent per tick; in pages), the local scheduler loop on an injected
clock, and the workflow's schedule in (moto's) EventBridge Scheduler."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.domain.workflows import schedule
from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import deploy, wait_for_run
from tether.scheduler_loop import SchedulerLoop, dispatch_stored, stored_schedules
from wpcom_sandbox.server import WordPressSandbox

PARIS = "Europe/Paris"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scheduled(cron: str, timezone: str = PARIS, default_enabled: bool = True) -> dict[str, Any]:
    return {
        "name": "Morning digest",
        "integration": "wordpress",
        "defaultEnabled": default_enabled,
        "trigger": {"type": "schedule", "cron": cron, "timezone": timezone},
        "steps": [{"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"}],
    }


@dataclass
class Clock:
    """The loop's injected clock: tests set the time."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def runs(api: Api, project: ProjectHandle) -> list[dict[str, Any]]:
    response = api.call("GET", f"/projects/{project.id}/runs", headers=project.admin)
    assert response.status == 200, response.json
    found: list[dict[str, Any]] = response.json["runs"]
    return found


class FakeContext:
    """What the dispatcher reads from Lambda's context."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tether-test-schedule_dispatcher"

    def __init__(self, remaining_millis: Callable[[], int]) -> None:
        self._remaining = remaining_millis

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining()


def dispatcher(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from app import schedule_dispatcher

    result: dict[str, Any] = schedule_dispatcher(event, context)
    return result


# ---- cron in a time zone (pure) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-01-15T00:00:00", "2026-01-15T08:00:00Z"),  # CET, UTC+1
        ("2026-07-15T00:00:00", "2026-07-15T07:00:00Z"),  # CEST, UTC+2
        ("2026-03-28T12:00:00", "2026-03-29T07:00:00Z"),  # the morning after the jump is summer time
    ],
)
def test_nine_in_paris_is_eight_utc_in_winter_and_seven_in_summer(after: str, expected: str) -> None:
    assert schedule.tick_id(schedule.next_tick("0 9 * * *", PARIS, utc(after))) == expected


def test_a_0230_job_runs_once_on_the_spring_forward_day_and_once_on_the_fall_back_day() -> None:
    spring = schedule.ticks_between("30 2 * * *", PARIS, utc("2026-03-28T12:00:00"), utc("2026-03-30T12:00:00"))
    # 02:30 does not exist on 29 March: it runs when the clock jumps to 03:00 (01:00 UTC).
    assert [schedule.tick_id(t) for t in spring] == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    autumn = schedule.ticks_between("30 2 * * *", PARIS, utc("2026-10-24T12:00:00"), utc("2026-10-26T12:00:00"))
    # 02:30 happens twice on 25 October: it runs at the first (summer time, 00:30 UTC) only.
    assert [schedule.tick_id(t) for t in autumn] == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]


def test_only_the_jump_tick_is_a_catch_up() -> None:
    assert schedule.is_catch_up("30 2 * * *", PARIS, utc("2026-03-29T01:00:00"))
    assert not schedule.is_catch_up("30 2 * * *", PARIS, utc("2026-03-30T00:30:00"))
    assert not schedule.is_catch_up("0 9 * * *", PARIS, utc("2026-03-29T07:00:00"))


@pytest.mark.parametrize(
    ("cron", "expression"),
    [
        ("0 9 * * *", "cron(0 9 * * ? *)"),
        ("*/15 9-17 * * MON-FRI", "cron(0/15 9-17 ? * MON-FRI *)"),
        ("0 8 * * 1-5", "cron(0 8 ? * 2-6 *)"),  # EventBridge numbers Sunday 1
        ("0 8 * * 0", "cron(0 8 ? * 1 *)"),
        ("0 8 * * 7", "cron(0 8 ? * 1 *)"),
        ("0 8 * * 5-7", "cron(0 8 ? * 6-7,1 *)"),
        ("0 8 * * 1,3", "cron(0 8 ? * 2,4 *)"),
        ("0 8 * * */2", "cron(0 8 ? * 1/2 *)"),  # Sun, Tue, Thu, Sat both ways
        ("0 8 * * 1#2", "cron(0 8 ? * 2#2 *)"),
        ("0 8 * * 5L", "cron(0 8 ? * 6L *)"),
        ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
        ("30 2 L * *", "cron(30 2 L * ? *)"),
    ],
)
def test_eventbridge_expressions_name_the_same_days(cron: str, expression: str) -> None:
    assert schedule.cron_problem(cron) is None
    assert schedule.eventbridge_expression(cron) == expression


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 9 1 * MON", "not both"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 9 30 2 *", "not a valid cron expression"),
        ("0 9 * * * *", "five fields"),
        ("0 9 ? * MON", "five fields"),
    ],
)
def test_crons_eventbridge_or_cronsim_cannot_run_are_refused(cron: str, fragment: str) -> None:
    problem = schedule.cron_problem(cron)
    assert problem is not None
    assert fragment in problem


def test_a_deploy_names_every_cron_problem_at_its_path(api: Api, project: ProjectHandle) -> None:
    response = api.call(
        "PUT",
        f"/projects/{project.id}/workflows/bad-cron",
        body=scheduled("0 9 1 * MON", timezone="Europe/Atlantis"),
        headers=project.admin,
    )
    assert response.status == 400
    assert response.json["code"] == "invalid_workflow"
    assert sorted(p["path"] for p in response.json["problems"]) == ["$.trigger.cron", "$.trigger.timezone"]


# ---- the local scheduler loop and the dispatcher ------------------------------------------------


def test_paris_0900_fires_at_0800_utc_in_winter_and_0700_in_summer_for_enabled_connected_users_only(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    connect(api, project, sandbox, "bob")
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    # Bob turns it off; Carol is a known user who never connected WordPress.com.
    assert api.call("DELETE", f"/projects/{project.id}/sdk/workflows/digest", token=project.token("bob")).status == 200
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token("carol")).status == 200
    clock = Clock(utc("2026-01-15T07:58:00"))
    loop = SchedulerLoop(stored_schedules, dispatch_stored, clock=clock)

    clock.now = utc("2026-01-15T07:59:59")
    assert loop.run_due() == []
    clock.now = utc("2026-01-15T08:00:30")
    assert loop.run_due() == [(project.id, "digest", "2026-01-15T08:00:00Z")]
    clock.now = utc("2026-01-15T08:01:00")
    assert loop.run_due() == []
    [winter] = runs(api, project)
    assert (winter["userId"], winter["trigger"]) == (
        "alice",
        {"type": "schedule", "scheduledAt": "2026-01-15T08:00:00Z"},
    )
    assert wait_for_run(api, project, winter["id"])["status"] == "SUCCEEDED"

    clock.now = utc("2026-07-15T06:59:00")
    assert loop.run_due() == []
    clock.now = utc("2026-07-15T07:00:00")
    assert loop.run_due() == [(project.id, "digest", "2026-07-15T07:00:00Z")]
    summer, _ = runs(api, project)
    assert (summer["userId"], summer["trigger"]["scheduledAt"]) == ("alice", "2026-07-15T07:00:00Z")
    assert wait_for_run(api, project, summer["id"])["status"] == "SUCCEEDED"
    assert {run["userId"] for run in runs(api, project)} == {"alice"}


def test_a_0230_schedule_fires_once_through_the_spring_forward_night(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "night", scheduled("30 2 * * *"))
    clock = Clock(utc("2026-03-28T22:00:00"))
    loop = SchedulerLoop(stored_schedules, dispatch_stored, clock=clock)
    dispatched = []
    while clock.now < utc("2026-03-29T04:00:00"):  # midnight to 06:00 in Paris, a look every 10 minutes
        clock.now += timedelta(minutes=10)
        dispatched += loop.run_due()
    assert dispatched == [(project.id, "night", "2026-03-29T01:00:00Z")]
    [run] = runs(api, project)
    assert run["trigger"]["scheduledAt"] == "2026-03-29T01:00:00Z"
    assert wait_for_run(api, project, run["id"])["status"] == "SUCCEEDED"


def test_the_same_tick_delivered_twice_starts_each_run_once(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    connect(api, project, sandbox, "bob")
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    event = {"projectId": project.id, "workflowId": "digest", "scheduledAt": "2026-01-15T08:00:00Z"}
    first = dispatcher(event)
    assert (first["started"], first["repeated"], first["skipped"]) == (2, 0, 0)
    # EventBridge's own form of the time, seconds and all: the same tick.
    again = dispatcher({**event, "scheduledAt": "2026-01-15T08:00:07+00:00"})
    assert (again["started"], again["repeated"]) == (0, 2)
    started = runs(api, project)
    assert sorted(run["userId"] for run in started) == ["alice", "bob"]
    for run in started:
        assert wait_for_run(api, project, run["id"])["status"] == "SUCCEEDED"
    # The next day's tick is another tick.
    assert dispatcher({**event, "scheduledAt": "2026-01-16T08:00:00Z"})["started"] == 2


def test_a_time_that_is_not_a_tick_or_a_workflow_without_a_schedule_starts_nothing(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    event = {"projectId": project.id, "workflowId": "digest"}
    assert dispatcher({**event, "scheduledAt": "2026-01-15T08:17:00Z"})["ignored"]
    assert dispatcher({**event, "workflowId": "nope", "scheduledAt": "2026-01-15T08:00:00Z"})["ignored"]
    assert dispatcher({**event, "scheduledAt": "yesterday"})["ignored"]
    assert dispatcher({"workflowId": 3})["ignored"]
    assert runs(api, project) == []


def test_a_tick_goes_through_the_users_in_pages_and_hands_the_rest_on_when_time_runs_short(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_SCHEDULE_PAGE_SIZE", "2")
    reset_services()
    users = [f"user-{n}" for n in range(5)]
    for user in users:
        connect(api, project, sandbox, user)
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    event = {"projectId": project.id, "workflowId": "digest", "scheduledAt": "2026-01-15T08:00:00Z"}
    # Time is short from the start: one page (2 users), then the rest goes to a new invocation of
    # the dispatcher (answered in-process here), which has all the time it needs.
    first = dispatcher(event, FakeContext(lambda: 30_000))
    assert first["started"] == 2
    assert first["nextCursor"]
    started = runs(api, project)
    assert sorted(run["userId"] for run in started) == users
    for run in started:
        assert wait_for_run(api, project, run["id"])["status"] == "SUCCEEDED"


# ---- EventBridge Scheduler ---------------------------------------------------------------------


def stored_schedule(name: str) -> dict[str, Any] | None:
    client = boto3.client("scheduler", region_name="us-east-1")
    try:
        found: dict[str, Any] = client.get_schedule(Name=name)
    except client.exceptions.ResourceNotFoundException:
        return None
    return found


def test_the_schedule_is_created_updated_and_deleted_with_the_workflow(
    engine: None, api: Api, project: ProjectHandle
) -> None:
    from chalicelib.adapters.schedules import schedule_name
    from chalicelib.wiring import get_services

    settings = get_services().settings
    name = schedule_name(settings.stage, project.id, "digest")
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    created = stored_schedule(name)
    assert created is not None
    assert (created["ScheduleExpression"], created["ScheduleExpressionTimezone"]) == ("cron(0 9 * * ? *)", PARIS)
    assert created["State"] == "ENABLED"
    assert created["Target"]["Arn"] == settings.schedule_dispatcher_arn
    assert created["Target"]["RoleArn"] == settings.scheduler_role_arn
    assert json.loads(created["Target"]["Input"]) == {
        "projectId": project.id,
        "workflowId": "digest",
        "scheduledAt": "<aws.scheduler.scheduled-time>",
    }

    deploy(api, project, "digest", scheduled("30 7 * * 1-5", timezone="America/New_York"))
    updated = stored_schedule(name)
    assert updated is not None
    expression = (updated["ScheduleExpression"], updated["ScheduleExpressionTimezone"])
    assert expression == ("cron(30 7 ? * 2-6 *)", "America/New_York")

    # Another trigger: the schedule goes.
    deploy(api, project, "digest", {**scheduled("0 9 * * *"), "trigger": {"type": "app_event", "event": "x"}})
    assert stored_schedule(name) is None
    deploy(api, project, "digest", scheduled("0 9 * * *"))
    assert stored_schedule(name) is not None
    assert api.call("DELETE", f"/projects/{project.id}/workflows/digest", headers=project.admin).status == 204
    assert stored_schedule(name) is None


def test_a_tick_eventbridge_would_skip_is_scheduled_once_and_then_dispatched(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    from chalicelib.adapters.schedules import catch_up_name
    from chalicelib.wiring import get_services

    connect(api, project, sandbox, "alice")
    deploy(api, project, "night", scheduled("30 2 * * *"))
    name = catch_up_name(get_services().settings.stage, project.id, "night")
    # Saturday's 02:30 tick: Sunday's 02:30 does not exist in Paris, and EventBridge skips it.
    event = {"projectId": project.id, "workflowId": "night", "scheduledAt": "2026-03-28T01:30:00Z"}
    assert dispatcher(event)["started"] == 1
    catch_up = stored_schedule(name)
    assert catch_up is not None
    assert (catch_up["ScheduleExpression"], catch_up["ScheduleExpressionTimezone"]) == (
        "at(2026-03-29T01:00:00)",
        "UTC",
    )
    assert catch_up["ActionAfterCompletion"] == "DELETE"
    assert dispatcher({**event, "scheduledAt": "2026-03-29T01:00:00Z"})["started"] == 1
    assert sorted(run["trigger"]["scheduledAt"] for run in runs(api, project)) == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",
    ]
    for run in runs(api, project):
        wait_for_run(api, project, run["id"])
    assert api.call("DELETE", f"/projects/{project.id}/workflows/night", headers=project.admin).status == 204
    assert stored_schedule(name) is None


def test_a_scheduled_run_reads_the_users_metadata_and_workflow_settings(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect(api, project, sandbox, "alice")
    definition = scheduled("0 9 * * *")
    definition["steps"] = [
        {
            "id": "me",
            "type": "request",
            "method": "GET",
            "path": "v1.1/me",
            "query": {"fields": "{{ settings.fields }}", "context": "{{ user.metadata.plan }}"},
        }
    ]
    deploy(api, project, "digest", definition)
    token = project.token("alice")
    assert (
        api.call("PATCH", f"/projects/{project.id}/sdk/me", token=token, body={"meta": {"plan": "pro"}}).status == 200
    )
    patched = api.call(
        "PATCH",
        f"/projects/{project.id}/sdk/credentials/{credential_id}",
        token=token,
        body={"config": {"workflowSettings": {"digest": {"settings": {"fields": "ID,username"}}}}},
    )
    assert patched.status == 200, patched.json
    event = {"projectId": project.id, "workflowId": "digest", "scheduledAt": "2026-01-15T08:00:00Z"}
    assert dispatcher(event)["started"] == 1
    [started] = runs(api, project)
    run = wait_for_run(api, project, started["id"])
    assert run["steps"][0]["input"]["query"] == {"fields": "ID,username", "context": "pro"}
