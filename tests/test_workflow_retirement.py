"""Old versions' state machines are deleted once no run can need them: superseded long enough
ago (TETHER_RETIRE_VERSIONS_AFTER_SECONDS) and, for Standard machines, with no running
execution; a version with a run in flight keeps its machine until a later deploy finds it idle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.adapters.state_machines import state_machine_name
from chalicelib.config import get_settings
from chalicelib.wiring import reset_services
from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import deploy, event, wait_for_run
from wpcom_sandbox.server import WordPressSandbox


def slow(version_note: str, delay: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "sites", "type": "request", "method": "GET", "path": "v1.1/me/sites"}]
    if delay:
        steps.insert(0, {"id": "wait", "type": "delay", "seconds": delay})
    return {
        "name": f"Count sites ({version_note})",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": {"type": "app_event", "event": "count.sites"},
        "steps": steps,
    }


def machines(project: ProjectHandle) -> dict[int, dict[str, Any]]:
    """The state machines of the project's `count` workflow, by version number."""
    prefix = state_machine_name(get_settings().stage, project.id, "count", 0).removesuffix("0")
    listed = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    return {int(m["name"].removeprefix(prefix)): m for m in listed if m["name"].startswith(prefix)}


@pytest.fixture
def retire_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TETHER_RETIRE_VERSIONS_AFTER_SECONDS", "0")
    get_settings.cache_clear()
    reset_services()
    yield
    monkeypatch.delenv("TETHER_RETIRE_VERSIONS_AFTER_SECONDS")
    get_settings.cache_clear()  # later tests get the default again
    reset_services()


def test_an_idle_old_version_is_retired_and_one_with_a_run_in_flight_waits(
    engine: None, retire_at_once: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "count", slow("v1, slow", delay=120))
    [in_flight] = event(api, project, project.token("alice"), "count.sites", {})
    deploy(api, project, "count", slow("v2", delay=0))
    assert set(machines(project)) == {1, 2}  # v1 has a run in flight

    deploy(api, project, "count", slow("v3", delay=0))
    assert set(machines(project)) == {1, 3}  # v2 was idle: retired; v1 still running

    # The run on v1 ends (here: stopped); the next deploy retires v1 too.
    run = api.call("GET", f"/projects/{project.id}/runs/{in_flight}", headers=project.admin).json
    boto3.client("stepfunctions").stop_execution(executionArn=run["executionArn"])
    deploy(api, project, "count", slow("v4", delay=0))
    assert set(machines(project)) == {4}

    # The current version runs; the history of runs on retired versions stays readable.
    [fresh] = event(api, project, project.token("alice"), "count.sites", {})
    assert wait_for_run(api, project, fresh)["status"] == "SUCCEEDED"
    old = api.call("GET", f"/projects/{project.id}/runs/{in_flight}", headers=project.admin)
    assert old.status == 200
    assert old.json["version"] == 1


def test_by_default_a_version_superseded_moments_ago_keeps_its_machine(
    engine: None, api: Api, project: ProjectHandle
) -> None:
    for note in ("v1", "v2", "v3"):
        deploy(api, project, "count", slow(note, delay=0))
    assert set(machines(project)) == {1, 2, 3}  # none was superseded 20 minutes ago
