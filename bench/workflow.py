"""Benchmark: what running a workflow costs, in state transitions, runner time and latency.

Starts the local stack in this process (moto with its Step Functions interpreter, the step runner
answered in-process, the WordPress.com sandbox and the API on 127.0.0.1), connects a sandbox
account for one user, deploys a few workflows, then measures:

- state transitions per request step: workflows of 1, 2 and 3 `request` steps, each run once;
  the `*StateEntered` events in GetExecutionHistory are what Standard workflows bill;
- runner overhead per step, excluding the upstream call: the step runner's handler time minus the
  time inside the upstream HTTP call, per `run_step` invocation; the part of it spent in AWS calls
  (moto, in process here) is reported separately with the number of calls;
- event accepted -> execution started: from sending `POST .../sdk/events/trigger` to its 201, to
  the execution's `ExecutionStarted` event, and to the first step's runner invocation;
- runs per second: a burst of events (the two-step demo workflow), from the first send until
  every run has ended;
- the duration of a request-triggered (Express) run answered synchronously, for the cost table;
- webhook intake: a signed delivery to its 202 (signature check included) against the same
  one-step workflow started by an app event (baseline), and a burst of deliveries (default
  1,000): accepted, refused with a 429, started, lost (must be 0).

Baselines measured in the same run: the upstream call straight to the sandbox, and the same call
through the proxy route (what one request step does, without Step Functions).

Run: `.venv/bin/python bench/workflow.py [--runs N] [--burst N]`. Prints a table and writes
bench/results/workflow-latest.json. Not a test: nothing is asserted about timing; the run fails
only if a request or a run does not succeed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from bench_stats import percentile  # noqa: E402 - bench/, the script's own folder

RESULTS_FILE = REPO_ROOT / "bench" / "results" / "workflow-latest.json"
BENCH_USER = "bench-workflow-user"
SITES_PATH = "v1.1/me/sites"
DEMO_WORKFLOW = "post-articles"  # deployed by `tether dev` (demo/workflows/post-articles.json)
DEMO_EVENT = "article.published"
RUN_TIMEOUT_S = 60.0

# List prices (us-east-1), USD. Step Functions: https://aws.amazon.com/step-functions/pricing/,
# Lambda: https://aws.amazon.com/lambda/pricing/ (x86, first tier).
STANDARD_PER_TRANSITION = 0.025 / 1000
EXPRESS_PER_REQUEST = 1.00 / 1_000_000
EXPRESS_PER_GB_SECOND = 0.00001667
EXPRESS_MEMORY_GB = 64 / 1024  # billed in 64 MB chunks; a small state document fits the first one
EXPRESS_BILLING_STEP_S = 0.1  # duration rounded up to the next 100 ms
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000166667
LAMBDA_MEMORY_GB = 512 / 1024  # .chalice/config.json lambda_memory_size


# ---- instrumentation -------------------------------------------------------------------------


@dataclass
class Invocation:
    """One step runner invocation, as the bench saw it."""

    action: str
    run_id: str
    started: float  # time.time()
    handler_s: float = 0.0
    upstream_s: float = 0.0
    aws_s: float = 0.0
    aws_calls: int = 0
    aws_by_operation: dict[str, float] = field(default_factory=dict)
    aws_ops: list[str] = field(default_factory=list)


@dataclass
class RunnerProbe:
    """Times the step runner's handler, the upstream calls and AWS calls made inside it."""

    invocations: list[Invocation] = field(default_factory=list)
    ended_runs: set[str] = field(default_factory=set)
    _current: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ended: threading.Condition = field(default_factory=threading.Condition)

    def current(self) -> Invocation | None:
        return getattr(self._current, "invocation", None)

    @contextmanager
    def invocation(self, action: str, run_id: str) -> Iterator[Invocation]:
        record = Invocation(action, run_id, time.time())
        self._current.invocation = record
        started = time.perf_counter()
        try:
            yield record
        finally:
            record.handler_s = time.perf_counter() - started
            self._current.invocation = None
            with self._lock:
                self.invocations.append(record)
            if record.action in ("record_success", "record_failure"):
                with self._ended:
                    self.ended_runs.add(record.run_id)
                    self._ended.notify_all()

    def wait_for_end(self, run_id: str, timeout: float) -> bool:
        """Wait until the run's final state has recorded its outcome (no polling of the stack)."""
        with self._ended:
            return self._ended.wait_for(lambda: run_id in self.ended_runs, timeout)

    def clear(self) -> None:
        with self._lock:
            self.invocations.clear()


def install_probe(probe: RunnerProbe) -> Callable[[], None]:
    """Wrap the runner's handler, the proxy's upstream `send` and botocore's API call (bench only)."""
    from botocore.client import BaseClient

    from chalicelib.services import proxy, step_runner, workflow_runs

    original_handle = step_runner.handle
    original_trigger = workflow_runs.trigger_event
    original_send = proxy.send
    original_call: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def handle(ports: Any, event: dict[str, Any]) -> dict[str, Any]:
        run_id = str(((event.get("state") or {}).get("run") or {}).get("id", ""))
        with probe.invocation(str(event.get("action")), run_id):
            return original_handle(ports, event)

    def trigger_event(*args: Any, **kwargs: Any) -> list[str]:
        with probe.invocation("trigger_event", ""):
            return original_trigger(*args, **kwargs)

    def send(*args: Any, **kwargs: Any) -> Any:
        record = probe.current()
        started = time.perf_counter()
        try:
            return original_send(*args, **kwargs)
        finally:
            if record is not None:
                record.upstream_s += time.perf_counter() - started

    def api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        record = probe.current()
        started = time.perf_counter()
        try:
            return original_call(self, operation_name, api_params)
        finally:
            if record is not None:
                spent = time.perf_counter() - started
                record.aws_s += spent
                record.aws_calls += 1
                name = f"{self.meta.service_model.service_name}.{operation_name}"
                record.aws_by_operation[name] = record.aws_by_operation.get(name, 0.0) + spent
                record.aws_ops.append(name)

    step_runner.handle = handle  # type: ignore[assignment]
    workflow_runs.trigger_event = trigger_event  # type: ignore[assignment]
    proxy.send = send  # type: ignore[assignment]
    setattr(BaseClient, "_make_api_call", api_call)  # noqa: B010

    def restore() -> None:
        step_runner.handle = original_handle  # type: ignore[assignment]
        workflow_runs.trigger_event = original_trigger  # type: ignore[assignment]
        proxy.send = original_send  # type: ignore[assignment]
        setattr(BaseClient, "_make_api_call", original_call)  # noqa: B010

    return restore


# ---- helpers ---------------------------------------------------------------------------------


def _summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"median_ms": statistics.median(ms), "p90_ms": percentile(ms, 0.9), "max_ms": max(ms), "n": len(ms)}


def _sites_workflow(steps: int, event: str) -> dict[str, Any]:
    return {
        "name": f"{steps} request step(s)",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": {"type": "app_event", "event": event},
        "steps": [{"id": f"s{i}", "type": "request", "method": "GET", "path": SITES_PATH} for i in range(steps)],
    }


REQUEST_WORKFLOW = {
    "name": "First site (request-triggered)",
    "integration": "wordpress",
    "defaultEnabled": True,
    "trigger": {"type": "request"},
    "steps": [
        {"id": "sites", "type": "request", "method": "GET", "path": SITES_PATH},
        {"id": "answer", "type": "response", "status": 200, "body": {"first": "{{ steps.sites.output.sites[0].ID }}"}},
    ],
}


class Bench:
    """The running stack and what the measurements share."""

    def __init__(self, stack: Any, probe: RunnerProbe, user_token: str, access_token: str) -> None:
        self.stack = stack
        self.probe = probe
        self.api_url = str(stack.state["apiUrl"])
        self.project_id = str(stack.state["projectId"])
        self.wpcom_origin = str(stack.state["wpcomOrigin"])
        self.user = {"Authorization": f"Bearer {user_token}"}
        self.admin = {"Authorization": f"Bearer {stack.state['projectSecretKey']}"}
        self.upstream = {"Authorization": f"Bearer {access_token}"}
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only

    def deploy(self, workflow_id: str, definition: dict[str, Any]) -> None:
        url = f"{self.api_url}/projects/{self.project_id}/workflows/{workflow_id}"
        response = self.http.put(url, json=definition, headers=self.admin, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"deploying {workflow_id} answered {response.status_code}: {response.text[:300]}")

    def event(self, name: str, payload: dict[str, Any], session: requests.Session | None = None) -> list[str]:
        url = f"{self.api_url}/v2/projects/{self.project_id}/sdk/events/trigger"
        response = (session or self.http).post(
            url, json={"name": name, "payload": payload}, headers=self.user, timeout=30
        )
        if response.status_code != 201:
            raise RuntimeError(f"the event answered {response.status_code}: {response.text[:300]}")
        run_ids: list[str] = response.json()["runIds"]
        return run_ids

    def run(self, run_id: str) -> dict[str, Any]:
        """The run once it has ended: waits for its final state's runner call, then reads it once
        in-process (polling would load the stack it measures)."""
        from chalicelib.services import workflow_runs
        from chalicelib.wiring import get_services

        if not self.probe.wait_for_end(run_id, RUN_TIMEOUT_S):
            raise RuntimeError(f"run {run_id} did not end within {RUN_TIMEOUT_S:.0f} s")
        run, steps = workflow_runs.get_run(get_services().run_ports, self.project_id, run_id)
        view = workflow_runs.run_view(run, steps)
        if run.status != "SUCCEEDED":
            raise RuntimeError(f"run {run_id} ended {run.status}: {view['error']}")
        return view

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        from chalicelib.adapters import aws

        client = aws.stepfunctions()
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = client.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def timed_get(self, url: str, headers: dict[str, str]) -> float:
        started = time.perf_counter()
        response = self.http.get(url, headers=headers, timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {url.split('?', 1)[0]} answered {response.status_code}")
        return elapsed


# ---- measurements ----------------------------------------------------------------------------


def measure_transitions(bench: Bench) -> dict[str, Any]:
    """State transitions (`*StateEntered` events) per run of a workflow with n request steps."""
    per_run: dict[int, int] = {}
    lambda_invocations: dict[int, int] = {}
    for steps in (1, 2, 3):
        bench.deploy(f"bench-steps-{steps}", _sites_workflow(steps, f"bench.steps-{steps}"))
        [run_id] = bench.event(f"bench.steps-{steps}", {})
        run = bench.run(run_id)
        events = bench.history(run["executionArn"])
        per_run[steps] = sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
        lambda_invocations[steps] = sum(1 for e in events if e["type"] == "LambdaFunctionScheduled") or sum(
            1 for e in events if e["type"] == "TaskScheduled"
        )
    slope = (per_run[3] - per_run[1]) / 2
    return {
        "per_run_by_request_steps": per_run,
        "per_request_step": slope,
        "fixed_per_run": per_run[1] - slope,
        "lambda_invocations_by_request_steps": lambda_invocations,
        "target_per_request_step": 1,
    }


def measure_baselines(bench: Bench, count: int) -> dict[str, Any]:
    """The upstream call straight to the sandbox, and through the proxy route, interleaved."""
    direct_url = f"{bench.wpcom_origin}/rest/{SITES_PATH}"
    proxied_url = f"{bench.api_url}/projects/{bench.project_id}/sdk/proxy/wordpress/{SITES_PATH}"
    for _ in range(5):
        bench.timed_get(direct_url, bench.upstream)
        bench.timed_get(proxied_url, bench.user)
    direct, proxied = [], []
    for i in range(count):
        order = ((direct, direct_url, bench.upstream), (proxied, proxied_url, bench.user))
        for samples, url, headers in order if i % 2 == 0 else reversed(order):
            samples.append(bench.timed_get(url, headers))
    return {"direct": _summary_ms(direct), "proxied": _summary_ms(proxied)}


def measure_runner_and_latency(bench: Bench, probe: RunnerProbe, runs: int) -> dict[str, Any]:
    """Sequential two-step runs: runner time per step, and event -> execution started."""
    bench.event(DEMO_EVENT, {"title": "warm-up", "body": "x"})  # warm caches and the interpreter
    time.sleep(0.5)
    probe.clear()
    to_201, to_started, to_first_step, run_s = [], [], [], []
    for i in range(runs):
        sent = time.time()
        [run_id] = bench.event(DEMO_EVENT, {"title": f"bench {i}", "body": "x"})
        accepted = time.time()
        run = bench.run(run_id)
        events = bench.history(run["executionArn"])
        started = next(e for e in events if e["type"] == "ExecutionStarted")["timestamp"].timestamp()
        ended = max(e["timestamp"].timestamp() for e in events)
        first = min(
            (inv.started for inv in probe.invocations if inv.run_id == run_id and inv.action == "run_step"),
            default=math.nan,
        )
        to_201.append(accepted - sent)
        to_started.append(started - sent)
        to_first_step.append(first - sent)
        run_s.append(ended - started)
    steps = [inv for inv in probe.invocations if inv.action == "run_step"]
    finals = [inv for inv in probe.invocations if inv.action == "record_success"]
    triggers = [inv for inv in probe.invocations if inv.action == "trigger_event"]
    operations = sorted({op for inv in triggers for op in inv.aws_by_operation})
    overhead = [inv.handler_s - inv.upstream_s for inv in steps]
    outside_aws = [inv.handler_s - inv.upstream_s - inv.aws_s for inv in steps]
    return {
        "runs": runs,
        "latency": {
            "event_to_201": _summary_ms(to_201),
            "event_to_execution_started": _summary_ms(to_started),
            "event_to_first_step": _summary_ms(to_first_step),
            "execution_duration": _summary_ms(run_s),
        },
        "runner_per_step": {
            "steps": len(steps),
            "handler": _summary_ms([inv.handler_s for inv in steps]),
            "upstream": _summary_ms([inv.upstream_s for inv in steps]),
            "overhead_excluding_upstream": _summary_ms(overhead),
            "overhead_excluding_upstream_and_aws": _summary_ms(outside_aws),
            "aws_calls_per_step": statistics.fmean(inv.aws_calls for inv in steps),
            "aws_time": _summary_ms([inv.aws_s for inv in steps]),
            "aws_calls_per_step_by_operation": _calls_by_operation(steps),
            "target_overhead_ms": 5,
        },
        "event_use_case": {
            "time": _summary_ms([inv.handler_s for inv in triggers]),
            "aws_calls": statistics.fmean(inv.aws_calls for inv in triggers),
            "aws_calls_by_operation": _calls_by_operation(triggers),
            "aws_time": _summary_ms([inv.aws_s for inv in triggers]),
            "aws_median_ms_by_operation": {
                op: statistics.median(inv.aws_by_operation.get(op, 0.0) for inv in triggers) * 1000 for op in operations
            },
        },
        "record_success": {
            "handler": _summary_ms([inv.handler_s for inv in finals]),
            "aws_calls": statistics.fmean(inv.aws_calls for inv in finals) if finals else 0,
            "aws_calls_by_operation": _calls_by_operation(finals),
        },
    }


def _calls_by_operation(invocations: list[Invocation]) -> dict[str, float]:
    """AWS calls per invocation, by operation (the bench records a time per operation and call)."""
    counts: dict[str, int] = {}
    for inv in invocations:
        for op in inv.aws_ops:
            counts[op] = counts.get(op, 0) + 1
    return {op: n / len(invocations) for op, n in sorted(counts.items())} if invocations else {}


def measure_throughput(bench: Bench, burst: int, senders: int) -> dict[str, Any]:
    """A burst of events from `senders` threads; runs per second until the last run ended."""
    sessions = [requests.Session() for _ in range(senders)]
    for session in sessions:
        session.trust_env = False

    def send(i: int) -> str:
        [run_id] = bench.event(DEMO_EVENT, {"title": f"burst {i}", "body": "x"}, sessions[i % senders])
        return run_id

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        run_ids = list(pool.map(send, range(burst)))
    accepted = time.perf_counter() - started
    for run_id in run_ids:
        bench.run(run_id)
    elapsed = time.perf_counter() - started
    for session in sessions:
        session.close()
    return {
        "runs": burst,
        "senders": senders,
        "events_accepted_in_s": accepted,
        "all_ended_in_s": elapsed,
        "runs_per_second": burst / elapsed,
        "events_per_second": burst / accepted,
    }


def _tick_workflow(trigger: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Bench tick",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": trigger,
        "steps": [{"id": "pause", "type": "delay", "seconds": 1}],
    }


def _hook(bench: Bench) -> tuple[str, str]:
    url = f"{bench.api_url}/projects/{bench.project_id}/workflows/bench-hook"
    response = bench.http.put(
        url, json=_tick_workflow({"type": "webhook", "userIdPath": "user"}), headers=bench.admin, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"deploying the webhook answered {response.status_code}: {response.text[:300]}")
    created = response.json()
    return str(created["webhookUrl"]), str(created["webhookSecret"])


def _deliver(session: requests.Session, url: str, secret: str, index: int) -> requests.Response:
    from chalicelib.domain.webhook_signatures import signature_header

    body = json.dumps({"user": BENCH_USER, "n": index}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Tether-Signature": signature_header(secret, int(time.time()), body),
        "X-Tether-Delivery-Id": f"bench-{index}",
    }
    return session.post(url, data=body, headers=headers, timeout=60)


def measure_webhook_intake(bench: Bench, hook: tuple[str, str], count: int) -> dict[str, Any]:
    """A signed delivery to its 202 against an app event starting the same workflow (baseline)."""
    url, secret = hook
    bench.deploy("bench-tick", _tick_workflow({"type": "app_event", "event": "bench.tick"}))
    deliveries: list[float] = []
    events: list[float] = []
    run_ids: list[str] = []
    for i in range(count):
        started = time.perf_counter()
        response = _deliver(bench.http, url, secret, 10_000_000 + i)
        deliveries.append(time.perf_counter() - started)
        if response.status_code != 202:
            raise RuntimeError(f"a delivery answered {response.status_code}: {response.text[:300]}")
        run_ids.extend(response.json()["runIds"])
        started = time.perf_counter()
        run_ids.extend(bench.event("bench.tick", {"n": i}))
        events.append(time.perf_counter() - started)
    for run_id in run_ids:
        bench.probe.wait_for_end(run_id, RUN_TIMEOUT_S)
    return {"deliveries": count, "webhook_to_202": _summary_ms(deliveries), "event_to_201": _summary_ms(events)}


def measure_delivery_burst(bench: Bench, hook: tuple[str, str], deliveries: int, senders: int) -> dict[str, Any]:
    """Deliveries sent as fast as the stack takes them: each is accepted (and its run started) or
    refused with a 429; anything else, or an accepted run that was never started, is lost."""
    from chalicelib.wiring import get_services

    url, secret = hook
    sessions = [requests.Session() for _ in range(senders)]
    for session in sessions:
        session.trust_env = False

    def send(i: int) -> tuple[int, list[str]]:
        response = _deliver(sessions[i % senders], url, secret, i)
        ids = response.json().get("runIds", []) if response.status_code == 202 else []
        return response.status_code, list(ids)

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(send, range(deliveries)))
    elapsed = time.perf_counter() - started
    accepted = [ids for status, ids in answers if status == 202]
    refused = sum(1 for status, _ in answers if status == 429)
    run_ids = {run_id for ids in accepted for run_id in ids}
    runs = get_services().runs
    started_runs = 0
    for run_id in run_ids:
        found = runs.get(bench.project_id, run_id)
        if found is not None and found[0].execution_arn:
            started_runs += 1
    for run_id in run_ids:
        bench.probe.wait_for_end(run_id, RUN_TIMEOUT_S)
    for session in sessions:
        session.close()
    return {
        "deliveries": deliveries,
        "senders": senders,
        "accepted": len(accepted),
        "refused_429": refused,
        "runs_started": started_runs,
        "lost": deliveries - len(accepted) - refused + (len(run_ids) - started_runs),
        "accepted_in_s": elapsed,
        "deliveries_per_second": deliveries / elapsed,
    }


def measure_express(bench: Bench, count: int) -> dict[str, Any]:
    """Request-triggered runs (Express, answered synchronously): round trip and execution time."""
    bench.deploy("bench-request", REQUEST_WORKFLOW)
    url = f"{bench.api_url}/projects/{bench.project_id}/sdk/triggers/bench-request"
    round_trip, durations = [], []
    for _ in range(count + 1):
        started = time.perf_counter()
        response = bench.http.post(url, json={}, headers=bench.user, timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"the request workflow answered {response.status_code}: {response.text[:300]}")
        run = bench.run(response.headers["X-Tether-Run-Id"])
        stamps = [e["timestamp"].timestamp() for e in bench.history(run["executionArn"])]
        round_trip.append(elapsed)
        durations.append(max(stamps) - min(stamps))
    return {"round_trip": _summary_ms(round_trip[1:]), "execution": _summary_ms(durations[1:])}


def cost_per_thousand_runs(
    transitions_per_run: float, express_seconds: float, invocations: int, lambda_s: float
) -> dict[str, Any]:
    """USD per 1,000 runs at list prices; the formulas are in the README."""
    billed_s = math.ceil(express_seconds / EXPRESS_BILLING_STEP_S) * EXPRESS_BILLING_STEP_S
    standard = 1000 * transitions_per_run * STANDARD_PER_TRANSITION
    express_requests = 1000 * EXPRESS_PER_REQUEST
    express_duration = 1000 * billed_s * EXPRESS_MEMORY_GB * EXPRESS_PER_GB_SECOND
    lambda_cost = 1000 * invocations * (LAMBDA_PER_REQUEST + lambda_s * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND)
    return {
        "transitions_per_run": transitions_per_run,
        "express_billed_seconds": billed_s,
        "standard_usd": standard,
        "express_requests_usd": express_requests,
        "express_duration_usd": express_duration,
        "express_usd": express_requests + express_duration,
        "runner_lambda_usd": lambda_cost,
        "runner_invocations_per_run": invocations,
        "runner_seconds_per_invocation": lambda_s,
    }


# ---- main ------------------------------------------------------------------------------------


def run(runs: int, burst: int, senders: int, deliveries: int = 1000) -> dict[str, Any]:
    """Start the stack, measure, stop the stack; returns the figures."""
    from tether.devstack import start_dev_stack
    from tether.sandbox_connect import connect_over_http
    from tether.tokens import sign_user_token

    setup_started = time.perf_counter()
    stack = start_dev_stack(host="127.0.0.1", port=0, wpcom_port=0, state_file=None)
    for name in ("tether", "wpcom_sandbox"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    probe = RunnerProbe()
    restore = install_probe(probe)
    try:
        if stack.sandbox is None:
            raise RuntimeError("the local stack started without its WordPress.com sandbox")
        user_token = sign_user_token(stack.state["signingPrivateKeyPem"], BENCH_USER, 3600)
        connect_over_http(str(stack.state["apiUrl"]), str(stack.state["projectId"]), user_token)
        bench = Bench(stack, probe, user_token, stack.sandbox.state.issued_tokens()[-1].token)
        setup_s = time.perf_counter() - setup_started
        transitions = measure_transitions(bench)
        baselines = measure_baselines(bench, max(runs, 30))
        sequential = measure_runner_and_latency(bench, probe, runs)
        throughput = measure_throughput(bench, burst, senders)
        express = measure_express(bench, max(5, runs // 4))
        hook = _hook(bench)
        webhook = measure_webhook_intake(bench, hook, max(runs, 20))
        delivery_burst = measure_delivery_burst(bench, hook, deliveries, max(senders, 8))
    finally:
        restore()
        stack.stop()

    runner = sequential["runner_per_step"]
    two_step = transitions["per_run_by_request_steps"][2]
    invocations = transitions["lambda_invocations_by_request_steps"][2]
    lambda_s = runner["handler"]["median_ms"] / 1000
    costs = {
        "measured_locally": cost_per_thousand_runs(
            two_step, express["execution"]["median_ms"] / 1000, invocations, lambda_s
        ),
        "one_second_run": cost_per_thousand_runs(two_step, 1.0, invocations, lambda_s),
    }
    direct = baselines["direct"]["median_ms"]
    proxied = baselines["proxied"]["median_ms"]
    return {
        "benchmark": "workflow",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
        },
        "setup_seconds": round(setup_s, 2),
        "transitions": transitions,
        "baselines": baselines,
        "sequential": sequential,
        "throughput": throughput,
        "express": express,
        "webhook": webhook,
        "delivery_burst": delivery_burst,
        "ratios": {
            "webhook_intake_vs_app_event": webhook["webhook_to_202"]["median_ms"]
            / webhook["event_to_201"]["median_ms"],
            "step_handler_vs_direct_call": runner["handler"]["median_ms"] / direct,
            "step_handler_vs_proxied_call": runner["handler"]["median_ms"] / proxied,
            "runner_overhead_vs_proxy_added": runner["overhead_excluding_upstream"]["median_ms"] / (proxied - direct),
            "two_step_run_vs_two_proxied_calls": sequential["latency"]["execution_duration"]["median_ms"]
            / (2 * proxied),
        },
        "cost_per_1000_runs": costs,
    }


def print_report(result: dict[str, Any]) -> None:
    """A compact table of the figures."""
    t = result["transitions"]
    seq = result["sequential"]
    lat = seq["latency"]
    runner = seq["runner_per_step"]
    base = result["baselines"]
    thr = result["throughput"]
    machine = result["machine"]
    print(f"workflow bench: {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}")
    print(f"  setup {result['setup_seconds']:.1f} s")
    print()
    print("  state transitions per run (StateEntered events), by request steps:")
    for steps, count in t["per_run_by_request_steps"].items():
        print(f"    {steps} step(s): {count}")
    print(
        f"    -> {t['per_request_step']:.2f} per request step (target {t['target_per_request_step']}), "
        f"{t['fixed_per_run']:.2f} fixed per run"
    )
    print()

    def row(name: str, s: dict[str, float]) -> None:
        print(f"  {name:<44}{s['median_ms']:>9.2f}{s['p90_ms']:>9.2f}{s['max_ms']:>9.2f}")

    print(f"  {'(ms)':<44}{'median':>9}{'p90':>9}{'max':>9}")
    row("baseline: GET me/sites direct", base["direct"])
    row("baseline: same GET through the proxy route", base["proxied"])
    row(f"runner per request step ({runner['steps']} steps), handler", runner["handler"])
    row("  of which the upstream call", runner["upstream"])
    row("  overhead excluding upstream", runner["overhead_excluding_upstream"])
    row(f"  ... of which AWS calls ({runner['aws_calls_per_step']:.1f}/step, moto)", runner["aws_time"])
    row("  overhead excl. upstream and AWS calls", runner["overhead_excluding_upstream_and_aws"])
    row("event sent -> 201", lat["event_to_201"])
    use_case = seq["event_use_case"]
    row(f"  of which the trigger use case ({use_case['aws_calls']:.1f} AWS calls)", use_case["time"])
    row("  ... of which AWS calls (moto)", use_case["aws_time"])
    row("event sent -> ExecutionStarted", lat["event_to_execution_started"])
    row("event sent -> first step running", lat["event_to_first_step"])
    row("two-step execution (history first -> last)", lat["execution_duration"])
    row("request workflow (Express, sync) round trip", result["express"]["round_trip"])
    row("request workflow execution (history first -> last)", result["express"]["execution"])
    print(
        "  AWS calls per request step: "
        + ", ".join(f"{op} {n:.1f}" for op, n in runner["aws_calls_per_step_by_operation"].items())
        + "; per event: "
        + ", ".join(f"{op} {n:.1f}" for op, n in use_case["aws_calls_by_operation"].items())
    )
    slowest = sorted(use_case["aws_median_ms_by_operation"].items(), key=lambda kv: -kv[1])[:4]
    print("  trigger use case, median ms by AWS operation: " + ", ".join(f"{op} {ms:.1f}" for op, ms in slowest))
    print()
    print(
        f"  throughput: {thr['runs']} events from {thr['senders']} senders accepted in "
        f"{thr['events_accepted_in_s']:.2f} s, all runs ended in {thr['all_ended_in_s']:.2f} s "
        f"-> {thr['runs_per_second']:.2f} runs/s"
    )
    hook = result["webhook"]
    row("webhook delivery -> 202 (signature checked)", hook["webhook_to_202"])
    row("baseline: app event -> 201, same workflow", hook["event_to_201"])
    burst = result["delivery_burst"]
    print(
        f"  delivery burst: {burst['deliveries']} from {burst['senders']} senders in {burst['accepted_in_s']:.1f} s "
        f"({burst['deliveries_per_second']:.1f}/s): accepted {burst['accepted']}, refused (429) "
        f"{burst['refused_429']}, runs started {burst['runs_started']}, lost {burst['lost']}"
    )
    for name, value in result["ratios"].items():
        print(f"  ratio {name}: {value:.2f}x")
    print()
    for label, cost in result["cost_per_1000_runs"].items():
        print(
            f"  cost per 1,000 two-step runs ({label}): Standard ${cost['standard_usd']:.4f}, Express "
            f"${cost['express_usd']:.5f} (billed {cost['express_billed_seconds']:.1f} s), runner Lambda "
            f"${cost['runner_lambda_usd']:.5f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="sequential two-step runs (default 20)")
    parser.add_argument("--burst", type=int, default=30, help="runs in the throughput burst (default 30)")
    parser.add_argument("--senders", type=int, default=4, help="threads sending the burst (default 4)")
    parser.add_argument(
        "--deliveries", type=int, default=1000, help="webhook deliveries in the delivery burst (default 1000)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.burst < 1 or args.senders < 1 or args.deliveries < 1:
        parser.error("--runs, --burst, --senders and --deliveries must be at least 1")
    result = run(args.runs, args.burst, args.senders, args.deliveries)
    print_report(result)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n  written to {RESULTS_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
