"""A burst of 1,000 app events while Step Functions throttles some starts: every event either
starts its runs or is refused with a 429 its sender sees, and every run is recorded.

This is about intake and starts, so moto only records the executions (its interpreter is off
here); tests/test_workflows.py runs them."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import deploy
from wpcom_sandbox.server import WordPressSandbox

EVENTS = 1000
SENDERS = 8


class Throttle:
    """Answers some StartExecution calls with ThrottlingException: after every `every` calls,
    the next `run` calls in a row, so some events exhaust Tether's retries and some do not."""

    def __init__(self, every: int, run: int) -> None:
        self.every = every
        self.run = run
        self.calls = 0
        self.throttled = 0
        self.lock = threading.Lock()

    def __call__(self, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        with self.lock:
            self.calls += 1
            throttle = self.calls % (self.every + self.run) >= self.every
            if throttle:
                self.throttled += 1
        if not throttle:
            return None
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = HTTPHeaders()
        headers["x-amzn-ErrorType"] = "ThrottlingException"
        response = AWSResponse("local://throttle", 400, headers, _Raw(body))
        error = {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return response, error


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data

    def read(self, *_: Any, **__: Any) -> bytes:
        return self.data


@pytest.fixture
def throttle(aws_env: None) -> Iterator[Throttle]:
    import botocore.handlers

    from chalicelib.wiring import reset_services
    from tether.devstack import serialize_moto_calls

    hook = Throttle(every=40, run=6)
    handler = ("before-call.sfn.StartExecution", hook)
    botocore.handlers.BUILTIN_HANDLERS.insert(0, handler)
    unserialize = serialize_moto_calls()  # several senders at once: moto's backends need a lock
    reset_services()
    try:
        yield hook
    finally:
        unserialize()
        botocore.handlers.BUILTIN_HANDLERS.remove(handler)
        reset_services()


def test_a_burst_of_1000_events_loses_none(
    throttle: Throttle, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import state_machines
    from chalicelib.wiring import get_services

    monkeypatch.setattr(state_machines.random, "uniform", lambda low, high: 0.0)  # retry at once
    connect(api, project, sandbox, "alice")
    deploy(
        api,
        project,
        "tick",
        {
            "name": "Tick",
            "integration": "wordpress",
            "defaultEnabled": True,
            "trigger": {"type": "app_event", "event": "tick"},
            "steps": [{"id": "pause", "type": "delay", "seconds": 1}],
        },
    )
    token = project.token("alice")
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    refusals: list[dict[str, str]] = []  # the headers of each 429 (checked here: a thread's assert fails nothing)
    lock = threading.Lock()
    counter = iter(range(EVENTS))

    def sender() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            response = api.call(
                "POST",
                f"/projects/{project.id}/sdk/events/trigger",
                token=token,
                body={"name": "tick", "payload": {"i": index}},
            )
            with lock:
                statuses[response.status] += 1
                if response.status == 201:
                    accepted.extend(response.json["runIds"])
                else:
                    assert response.json["code"] == "workflow_engine_busy", response.json
                    refusals.append({name.lower(): value for name, value in response.headers.items()})

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {201, 429}, statuses
    assert statuses[201] + statuses[429] == EVENTS
    assert statuses[429] > 0, "the throttle must refuse some events for this test to mean anything"
    # Each refusal says when to try again, in a header a browser may read.
    assert len(refusals) == statuses[429]
    for headers in refusals:
        assert headers["retry-after"] == "5", headers
        assert "Retry-After" in headers["access-control-expose-headers"].split(","), headers
    assert len(accepted) == statuses[201]  # one enabled workflow: one run per accepted event
    # Every accepted run started (it has an execution); every refused one is recorded as failed
    # to start, with the reason. Nothing else exists.
    runs = get_services().runs
    records = []
    cursor = None
    while True:
        page, cursor = runs.list_runs(project.id, limit=100, cursor=cursor)
        records.extend(page)
        if cursor is None:
            break
    started = {r.id for r in records if r.execution_arn}
    failed_to_start = [r for r in records if r.error and r.error.get("error") == "Tether.StartFailed"]
    assert started == set(accepted)
    assert len(failed_to_start) == statuses[429]
    assert all("throttling" in r.error["cause"] for r in failed_to_start if r.error)
    assert len(records) == EVENTS
