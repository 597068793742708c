"""The compiler to Amazon States Language: the shape of each step's states, determinism, a
structural check of the ASL, and execution in moto's Step Functions interpreter with the step
runner's Lambda invocations answered in-process by a fake runner built on the domain code."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.config import default_user_config

from chalicelib.domain.workflows import conditions, templates
from chalicelib.domain.workflows.compiler import (
    DEFAULT_RETRY,
    FAILED,
    LAMBDA_INVOKE,
    RECORD_FAILURE,
    RECORD_SUCCESS,
    TRANSIENT_ERROR,
    RetryPolicy,
    StateMachine,
    compile_workflow,
    initial_state,
)
from chalicelib.domain.workflows.model import ConditionStep, FanOutStep, ResponseStep, WorkflowDefinition
from chalicelib.domain.workflows.validation import parse_workflow
from tests.conftest import _set_test_env
from tests.workflow_examples import PINNED_WORKFLOW

RUNNER = "arn:aws:lambda:us-east-1:123456789012:function:tether-step-runner"
ROLE = "arn:aws:iam::123456789012:role/tether-workflows"
IDENTITY = {"project": "p1", "workflow": "wf1", "version": 3}
FAST_RETRY = RetryPolicy(max_attempts=3, interval_seconds=1, backoff_rate=1.0)


def definition(steps: list[Any], trigger: dict[str, Any] | None = None) -> WorkflowDefinition:
    raw = {
        "name": "w",
        "integration": "wordpress",
        "trigger": trigger or {"type": "app_event", "event": "e"},
        "steps": steps,
    }
    return parse_workflow(raw, integrations=["wordpress"])


def compiled(steps: list[Any], trigger: dict[str, Any] | None = None, **options: Any) -> StateMachine:
    return compile_workflow(
        definition(steps, trigger), runner_arn=RUNNER, project_id="p1", workflow_id="wf1", version=3, **options
    )


def get(step_id: str, path: str = "v1.1/me", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "request", "method": "GET", "path": path, **extra}


def catch() -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": RECORD_FAILURE}]


def retry(attempts: int = 5, interval: int = 2, rate: float = 2.0, transient: bool = True) -> list[dict[str, Any]]:
    errors = [
        *([TRANSIENT_ERROR] if transient else []),
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ]
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": interval,
            "MaxAttempts": attempts - 1,
            "BackoffRate": rate,
            "JitterStrategy": "FULL",
        }
    ]


def payload(action: str, step_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, **IDENTITY, "state.$": "$"}
    if step_id:
        out["stepId"] = step_id
    if action == "run_step":
        out["attempt.$"] = "$$.State.RetryCount"
    return out


# ---- a structural check of the States Language used ---------------------------------------

_FIELDS = {
    "Task": {
        "Type",
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "Next",
        "End",
        "Comment",
    },
    "Choice": {"Type", "Choices", "Default", "Comment"},
    "Map": {
        "Type",
        "ItemsPath",
        "MaxConcurrency",
        "ItemSelector",
        "ItemProcessor",
        "ResultSelector",
        "ResultPath",
        "Catch",
        "Retry",
        "Next",
        "End",
        "Comment",
    },
    "Wait": {"Type", "Seconds", "Next", "End", "Comment"},
    "Pass": {"Type", "Result", "ResultPath", "InputPath", "Next", "End", "Comment"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Error", "Cause", "ErrorPath", "CausePath", "Comment"},
}
_REQUIRED = {
    "Task": {"Resource"},
    "Choice": {"Choices"},
    "Map": {"ItemProcessor", "ItemsPath"},
    "Wait": {"Seconds"},
}
_COMPARATORS = {
    "StringEquals",
    "NumericEquals",
    "BooleanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "IsPresent",
    "IsNull",
    "IsNumeric",
    "IsString",
    "IsBoolean",
}
_RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "JitterStrategy"}


def asl_problems(asl: dict[str, Any]) -> list[str]:
    """What is wrong with an ASL document, for the fields Tether uses (empty when fine)."""
    found: list[str] = []
    names: list[str] = []

    def rule_problems(rule: dict[str, Any], where: str, top: bool) -> None:
        logical = [key for key in ("And", "Or", "Not") if key in rule]
        if top and "Next" not in rule:
            found.append(f"{where}: a Choice rule needs Next")
        if logical:
            if len(logical) != 1 or "Variable" in rule:
                found.append(f"{where}: one of And/Or/Not, without Variable")
            inner = rule[logical[0]]
            for part in inner if isinstance(inner, list) else [inner]:
                rule_problems(part, where, top=False)
            return
        comparators = [key for key in rule if key in _COMPARATORS]
        if not str(rule.get("Variable", "")).startswith("$") or len(comparators) != 1:
            found.append(f"{where}: a rule needs a Variable and exactly one comparator: {rule}")
        extra = set(rule) - _COMPARATORS - {"Variable", "Next"}
        if extra:
            found.append(f"{where}: unknown rule fields {sorted(extra)}")

    def check_scope(block: dict[str, Any], where: str) -> None:
        states = block.get("States")
        if not isinstance(states, dict) or not states:
            found.append(f"{where}: no States")
            return
        if block.get("StartAt") not in states:
            found.append(f"{where}: StartAt {block.get('StartAt')!r} is not a state")
        edges: dict[str, list[str]] = {}
        for name, state in states.items():
            names.append(name)
            here = f"{where}.{name}"
            kind = state.get("Type")
            if len(name) > 80:
                found.append(f"{here}: name longer than 80")
            if kind not in _FIELDS:
                found.append(f"{here}: unknown Type {kind!r}")
                continue
            unknown = set(state) - _FIELDS[kind]
            missing = _REQUIRED.get(kind, set()) - set(state)
            if unknown or missing:
                found.append(f"{here}: unknown {sorted(unknown)}, missing {sorted(missing)}")
            targets = []
            if kind in ("Task", "Map", "Wait", "Pass"):
                if ("Next" in state) == (state.get("End") is True):
                    found.append(f"{here}: needs exactly one of Next and End")
                targets += [state["Next"]] if "Next" in state else []
            elif "Next" in state or "End" in state:
                found.append(f"{here}: a {kind} state has no Next/End")
            if kind == "Choice":
                for rule in state["Choices"]:
                    rule_problems(rule, here, top=True)
                    targets.append(rule.get("Next"))
                if "Default" in state:
                    targets.append(state["Default"])
            for catcher in state.get("Catch", []):
                if catcher.get("ErrorEquals") != ["States.ALL"] or "Next" not in catcher:
                    found.append(f"{here}: bad Catch {catcher}")
                targets.append(catcher.get("Next"))
            for retrier in state.get("Retry", []):
                if set(retrier) - _RETRIER_FIELDS or not retrier.get("ErrorEquals"):
                    found.append(f"{here}: bad Retry {retrier}")
                if not (isinstance(retrier["MaxAttempts"], int) and retrier["MaxAttempts"] >= 0):
                    found.append(f"{here}: MaxAttempts must be a whole number >= 0")
                if not (isinstance(retrier["IntervalSeconds"], int) and retrier["IntervalSeconds"] >= 1):
                    found.append(f"{here}: IntervalSeconds must be a whole number >= 1")
                if retrier["BackoffRate"] < 1 or retrier["JitterStrategy"] not in ("FULL", "NONE"):
                    found.append(f"{here}: bad BackoffRate/JitterStrategy")
            if kind == "Task":
                parameters = state.get("Parameters", {})
                if state["Resource"] != LAMBDA_INVOKE or set(parameters) != {"FunctionName", "Payload"}:
                    found.append(f"{here}: not a lambda:invoke of the runner")
            if kind == "Map":
                processor = state["ItemProcessor"]
                if processor.get("ProcessorConfig") != {"Mode": "INLINE"}:
                    found.append(f"{here}: the item processor must be INLINE")
                check_scope(processor, here)
            for key in ("ResultPath", "InputPath", "ItemsPath"):
                value = state.get(key)
                if value is not None and not str(value).startswith("$"):
                    found.append(f"{here}: {key} must be a path")
            for target in targets:
                if target not in states:
                    found.append(f"{here}: target {target!r} is not a state of this scope")
            edges[name] = [target for target in targets if target in states]
        reached, todo = set(), [block.get("StartAt")]
        while todo:
            name = todo.pop()
            if name in reached or name not in states:
                continue
            reached.add(name)
            todo += edges.get(name, [])
        for name in states:
            if name not in reached:
                found.append(f"{where}.{name}: unreachable")

    check_scope(asl, "$")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        found.append(f"state names used twice: {duplicates}")
    return found


def test_the_checker_finds_problems() -> None:
    # The structural check is itself tested, so a passing compile test means something.
    good = compiled([get("a"), get("b")]).definition
    assert asl_problems(good) == []
    cases = []
    bad = copy.deepcopy(good)
    bad["States"]["a"]["Next"] = "nowhere"
    cases.append(bad)
    bad = copy.deepcopy(good)
    bad["States"][RECORD_SUCCESS].pop("End")
    cases.append(bad)
    bad = copy.deepcopy(good)
    bad["States"]["orphan"] = {"Type": "Succeed"}
    cases.append(bad)
    bad = copy.deepcopy(good)
    bad["States"]["a"]["Retries"] = []
    cases.append(bad)
    bad = copy.deepcopy(good)
    bad["States"]["a"]["Retry"][0]["MaxAttempts"] = -1
    cases.append(bad)
    for case in cases:
        assert asl_problems(case), case


# ---- shapes --------------------------------------------------------------------------------


def test_three_request_steps_are_exactly_three_task_states() -> None:
    machine = compiled([get("a"), get("b", "v1.1/{{ steps.a.output.x }}"), get("c")])
    states = machine.definition["States"]
    assert machine.type == "STANDARD"
    assert machine.definition["StartAt"] == "a"
    step_tasks = [
        name for name, s in states.items() if s["Type"] == "Task" and s["Parameters"]["Payload"]["action"] == "run_step"
    ]
    assert sorted(step_tasks) == ["a", "b", "c"]
    # Plus the outcome, which is not a step: a Task that records success, one that records a
    # failure, and a Fail state.
    assert sorted(states) == sorted(["a", "b", "c", RECORD_SUCCESS, RECORD_FAILURE, FAILED])
    assert [s["Type"] for s in states.values()].count("Task") == 5
    assert states["a"]["Next"] == "b"
    assert states["b"]["Next"] == "c"
    assert states["c"]["Next"] == RECORD_SUCCESS
    assert states[RECORD_SUCCESS]["End"] is True
    assert asl_problems(machine.definition) == []


def test_a_request_step_is_one_lambda_invoke_task() -> None:
    states = compiled([get("sites")]).definition["States"]
    assert states["sites"] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": RUNNER, "Payload": payload("run_step", "sites")},
        "ResultSelector": {"output.$": "$.Payload.output", "status.$": "$.Payload.status"},
        "ResultPath": "$.steps.sites",
        "Retry": retry(),
        "Catch": catch(),
        "Next": RECORD_SUCCESS,
    }
    assert states[RECORD_SUCCESS] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": RUNNER, "Payload": payload("record_success")},
        "ResultPath": None,
        "Retry": retry(transient=False),
        "End": True,
    }
    assert states[RECORD_FAILURE] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": RUNNER, "Payload": payload("record_failure")},
        "ResultPath": None,
        "Retry": retry(transient=False),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": FAILED}],
        "Next": FAILED,
    }
    assert states[FAILED] == {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"}


def test_an_http_step_is_the_same_task() -> None:
    states = compiled([{"id": "h", "type": "http", "method": "POST", "url": "https://example.com/x"}]).definition[
        "States"
    ]
    assert states["h"]["Parameters"]["Payload"] == payload("run_step", "h")
    assert states["h"]["ResultPath"] == "$.steps.h"
    assert states["h"]["Retry"] == retry()


def test_retry_defaults_count_attempts_and_steps_override_them() -> None:
    states = compiled(
        [
            get("a", retry={"maxAttempts": 3, "intervalSeconds": 7, "backoffRate": 1.5}),
            get("b", retry={"maxAttempts": 1}),
            get("c", retry={"intervalSeconds": 9}),
        ]
    ).definition["States"]
    assert states["a"]["Retry"] == retry(3, 7, 1.5)
    assert "Retry" not in states["b"]  # one attempt: nothing to retry
    assert states["c"]["Retry"] == retry(5, 9, 2.0)
    assert DEFAULT_RETRY.max_attempts == 5
    assert compiled([get("a")], retry=RetryPolicy(2, 1, 1.0)).definition["States"]["a"]["Retry"] == retry(2, 1, 1.0)


def test_a_simple_condition_is_one_native_choice() -> None:
    machine = compiled(
        [
            get("a"),
            {
                "id": "ok",
                "type": "condition",
                "if": {"left": "{{ steps.a.status }}", "op": "equals", "right": 200},
                "then": [get("b")],
                "else": [get("c")],
            },
            get("d"),
        ]
    )
    states = machine.definition["States"]
    assert states["ok"] == {
        "Type": "Choice",
        "Choices": [
            {
                "And": [
                    {"Variable": "$.steps.a.status", "IsPresent": True},
                    {"Variable": "$.steps.a.status", "IsNumeric": True},
                    {"Variable": "$.steps.a.status", "NumericEquals": 200},
                ],
                "Next": "b",
            }
        ],
        "Default": "c",
    }
    assert states["a"]["Next"] == "ok"
    assert states["b"]["Next"] == "d"
    assert states["c"]["Next"] == "d"
    assert sorted(states) == sorted(["a", "ok", "b", "c", "d", RECORD_SUCCESS, RECORD_FAILURE, FAILED])
    assert asl_problems(machine.definition) == []


@pytest.mark.parametrize(
    ("condition", "rule"),
    [
        (
            {"left": "{{ trigger.payload.kind }}", "op": "not_equals", "right": "draft"},
            {
                "Not": {
                    "And": [
                        {"Variable": "$.trigger.payload.kind", "IsPresent": True},
                        {"Variable": "$.trigger.payload.kind", "IsString": True},
                        {"Variable": "$.trigger.payload.kind", "StringEquals": "draft"},
                    ]
                }
            },
        ),
        (
            {"left": "{{ user.metadata.vip }}", "op": "equals", "right": True},
            {
                "And": [
                    {"Variable": "$.user.metadata.vip", "IsPresent": True},
                    {"Variable": "$.user.metadata.vip", "IsBoolean": True},
                    {"Variable": "$.user.metadata.vip", "BooleanEquals": True},
                ]
            },
        ),
        (
            {"left": "{{ settings.limit }}", "op": "lte", "right": 2.5},
            {
                "And": [
                    {"Variable": "$.settings.limit", "IsPresent": True},
                    {"Variable": "$.settings.limit", "IsNumeric": True},
                    {"Variable": "$.settings.limit", "NumericLessThanEquals": 2.5},
                ]
            },
        ),
        (
            {"left": "{{ trigger.payload }}", "op": "exists"},
            {
                "And": [
                    {"Variable": "$.trigger.payload", "IsPresent": True},
                    {"Variable": "$.trigger.payload", "IsNull": False},
                ]
            },
        ),
        (
            {"left": "{{ trigger.payload.x }}", "op": "equals", "right": None},
            {
                "Not": {
                    "And": [
                        {"Variable": "$.trigger.payload.x", "IsPresent": True},
                        {"Variable": "$.trigger.payload.x", "IsNull": False},
                    ]
                }
            },
        ),
        (
            {"any": [{"left": "{{ trigger.a }}", "op": "exists"}, {"left": "{{ trigger.b }}", "op": "not_exists"}]},
            {
                "Or": [
                    {
                        "And": [
                            {"Variable": "$.trigger.a", "IsPresent": True},
                            {"Variable": "$.trigger.a", "IsNull": False},
                        ]
                    },
                    {
                        "Not": {
                            "And": [
                                {"Variable": "$.trigger.b", "IsPresent": True},
                                {"Variable": "$.trigger.b", "IsNull": False},
                            ]
                        }
                    },
                ]
            },
        ),
    ],
)
def test_native_choice_rules(condition: dict[str, Any], rule: dict[str, Any]) -> None:
    states = compiled([{"id": "c", "type": "condition", "if": condition, "then": [get("t")]}, get("z")]).definition[
        "States"
    ]
    assert states["c"] == {"Type": "Choice", "Choices": [{**rule, "Next": "t"}], "Default": "z"}


@pytest.mark.parametrize(
    "condition",
    [
        {"left": "{{ steps.a.output.sites[0].ID }}", "op": "equals", "right": 1},  # an index (moto ignores those)
        {"left": "{{ steps.a.output.tags }}", "op": "contains", "right": "x"},  # no ASL operator
        {"left": "{{ steps.a.output.name }}", "op": "gt", "right": "m"},  # string order
        {"left": "{{ steps.a.status }}", "op": "equals", "right": "{{ trigger.payload.status }}"},  # two templates
        {"left": "{{ length(steps.a.output) }}", "op": "gt", "right": 1},  # a function
        {"left": "{{ steps.a.output.list }}", "op": "equals", "right": [1]},  # a list literal
        {"left": "literal", "op": "equals", "right": "literal"},  # no path at all
        {
            "all": [
                {"left": "{{ steps.a.status }}", "op": "exists"},
                {"left": "{{ steps.a.output }}", "op": "contains", "right": 1},
            ]
        },
    ],
)
def test_other_conditions_are_evaluated_by_the_runner_then_one_choice(condition: dict[str, Any]) -> None:
    machine = compiled([get("a"), {"id": "c", "type": "condition", "if": condition, "then": [get("t")]}])
    states = machine.definition["States"]
    assert states["c"] == {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": RUNNER, "Payload": payload("evaluate_condition", "c")},
        "ResultSelector": {"output.$": "$.Payload.output"},
        "ResultPath": "$.steps.c",
        "Retry": retry(transient=False),
        "Catch": catch(),
        "Next": "c.Choice",
    }
    assert states["c.Choice"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.steps.c.output", "BooleanEquals": True, "Next": "t"}],
        "Default": RECORD_SUCCESS,
    }
    assert states["t"]["Next"] == RECORD_SUCCESS
    assert asl_problems(machine.definition) == []


def test_empty_branches_and_a_condition_at_the_end() -> None:
    machine = compiled(
        [get("a"), {"id": "c", "type": "condition", "if": {"left": "{{ steps.a.status }}", "op": "exists"}, "then": []}]
    )
    states = machine.definition["States"]
    assert states["c"]["Choices"][0]["Next"] == RECORD_SUCCESS
    assert states["c"]["Default"] == RECORD_SUCCESS
    assert asl_problems(machine.definition) == []


def test_a_fan_out_is_a_map() -> None:
    machine = compiled(
        [
            get("sites"),
            get("me"),
            {
                "id": "each",
                "type": "fan_out",
                "over": "{{ trigger.payload.sites }}",
                "maxConcurrency": 4,
                "steps": [
                    get(
                        "posts",
                        "v1.1/sites/{{ item.ID }}/posts",
                        query={"n": "{{ index }}", "who": "{{ steps.me.output.ID }}"},
                    ),
                    {
                        "id": "big",
                        "type": "condition",
                        "if": {"left": "{{ steps.posts.status }}", "op": "gt", "right": 10},
                        "then": [get("flag", "v1.1/{{ steps.posts.status }}")],
                    },
                ],
            },
            get("after", "v1.1/{{ steps.each.output[0].posts.status }}"),
        ]
    )
    states = machine.definition["States"]
    each = states["each"]
    assert each == {
        "Type": "Map",
        "ItemsPath": "$.trigger.payload.sites",
        "MaxConcurrency": 4,
        "ItemSelector": {
            "item.$": "$$.Map.Item.Value",
            "index.$": "$$.Map.Item.Index",
            "run.$": "$.run",
            "trigger.$": "$.trigger",
            "user.$": "$.user",
            "settings.$": "$.settings",
            "steps": {},
            "outerSteps": {"me.$": "$.steps.me"},  # only what the body reads from outside
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "posts",
            "States": each["ItemProcessor"]["States"],
        },
        "ResultSelector": {"output.$": "$"},
        "ResultPath": "$.steps.each",
        "Catch": catch(),
        "Next": "after",
    }
    inner = each["ItemProcessor"]["States"]
    assert sorted(inner) == ["big", "each.Done", "flag", "posts"]
    assert inner["posts"]["Next"] == "big"
    assert "Catch" not in inner["posts"]  # an inner failure fails the Map, whose Catch applies
    assert inner["posts"]["Retry"] == retry()
    assert inner["big"]["Choices"][0]["And"][0] == {"Variable": "$.steps.posts.status", "IsPresent": True}
    assert inner["big"]["Choices"][0]["Next"] == "flag"
    assert inner["big"]["Default"] == "each.Done"
    assert inner["flag"]["Next"] == "each.Done"
    assert inner["each.Done"] == {"Type": "Pass", "InputPath": "$.steps", "End": True}
    assert asl_problems(machine.definition) == []


def test_nested_fan_outs_pass_outside_steps_down_and_read_them_from_outer_steps() -> None:
    machine = compiled(
        [
            get("a"),
            {
                "id": "outer",
                "type": "fan_out",
                "over": "{{ steps.a.output.list }}",
                "steps": [
                    get("b"),
                    {
                        "id": "inner",
                        "type": "fan_out",
                        "over": "{{ steps.a.output.other }}",
                        "steps": [get("c", "v1.1/{{ steps.a.status }}/{{ steps.b.status }}")],
                    },
                ],
            },
        ]
    )
    outer = machine.definition["States"]["outer"]
    assert outer["ItemSelector"]["outerSteps"] == {"a.$": "$.steps.a"}
    inner_states = outer["ItemProcessor"]["States"]
    # Items come from a step's output, so the runner reads them (the output may be in S3).
    assert inner_states["inner.Items"]["Parameters"]["Payload"] == payload("evaluate_items", "inner")
    inner = inner_states["inner"]
    assert inner["ItemsPath"] == "$.steps.inner.items"
    assert inner["ItemSelector"]["outerSteps"] == {"a.$": "$.outerSteps.a", "b.$": "$.steps.b"}
    # Each iteration knows the ones around it, so its step records get keys of their own.
    assert "within" not in outer["ItemSelector"]
    assert inner["ItemSelector"]["within"] == {"index.$": "$.index"}
    assert asl_problems(machine.definition) == []


def test_a_third_level_fan_out_carries_the_whole_chain_of_outer_iterations() -> None:
    def fan(step_id: str, steps: list[Any]) -> dict[str, Any]:
        return {"id": step_id, "type": "fan_out", "over": "{{ trigger.payload.list }}", "steps": steps}

    machine = compiled([fan("one", [fan("two", [fan("three", [get("leaf")])])])])
    two = machine.definition["States"]["one"]["ItemProcessor"]["States"]["two"]
    three = two["ItemProcessor"]["States"]["three"]
    assert two["ItemSelector"]["within"] == {"index.$": "$.index"}
    assert three["ItemSelector"]["within"] == {"index.$": "$.index", "within.$": "$.within"}
    assert asl_problems(machine.definition) == []


def test_step_outputs_are_read_by_the_runner_never_by_a_native_path() -> None:
    machine = compiled(
        [
            get("a"),
            {"id": "f", "type": "fan_out", "over": "{{ steps.a.output.sites }}", "steps": [get("g")]},
            {
                "id": "c",
                "type": "condition",
                "if": {"left": "{{ steps.a.output.found }}", "op": "equals", "right": 1},
                "then": [get("t")],
            },
        ]
    )
    states = machine.definition["States"]
    assert states["a"]["Next"] == "f.Items"
    assert states["f"]["ItemsPath"] == "$.steps.f.items"
    assert states["c"]["Parameters"]["Payload"] == payload("evaluate_condition", "c")
    assert states["c"]["Next"] == "c.Choice"
    assert asl_problems(machine.definition) == []


def test_a_fan_out_over_an_expression_gets_its_items_from_the_runner() -> None:
    machine = compiled(
        [
            get("a"),
            {"id": "f", "type": "fan_out", "over": "{{ steps.a.output.sites[?visible].ID }}", "steps": [get("g")]},
        ]
    )
    states = machine.definition["States"]
    assert machine.definition["StartAt"] == "a"
    assert states["a"]["Next"] == "f.Items"
    assert states["f.Items"]["Parameters"]["Payload"] == payload("evaluate_items", "f")
    assert states["f.Items"]["ResultSelector"] == {"items.$": "$.Payload.output"}
    assert states["f.Items"]["ResultPath"] == "$.steps.f"
    assert states["f.Items"]["Next"] == "f"
    assert states["f"]["ItemsPath"] == "$.steps.f.items"
    assert asl_problems(machine.definition) == []


def test_a_delay_is_a_wait() -> None:
    states = compiled([{"id": "d", "type": "delay", "seconds": 90}, get("a")]).definition["States"]
    assert states["d"] == {"Type": "Wait", "Seconds": 90, "Next": "a"}


def test_responses_and_express_for_request_workflows() -> None:
    machine = compiled(
        [
            get("a"),
            {"id": "fixed", "type": "response", "status": 202, "body": {"ok": True}},
            {"id": "dynamic", "type": "response", "body": {"id": "{{ steps.a.output.ID }}"}},
        ],
        trigger={"type": "request"},
    )
    assert machine.type == "EXPRESS"
    states = machine.definition["States"]
    assert states["fixed"] == {
        "Type": "Pass",
        "Result": {"status": 202, "body": {"ok": True}},
        "ResultPath": "$.response",
        "Next": "dynamic",
    }
    assert states["dynamic"]["Parameters"]["Payload"] == payload("respond", "dynamic")
    assert states["dynamic"]["ResultSelector"] == {"status.$": "$.Payload.status", "body.$": "$.Payload.body"}
    assert states["dynamic"]["ResultPath"] == "$.response"
    assert states["dynamic"]["Next"] == RECORD_SUCCESS
    assert asl_problems(machine.definition) == []


def test_only_delays_need_no_failure_states() -> None:
    states = compiled([{"id": "d", "type": "delay", "seconds": 1}]).definition["States"]
    assert sorted(states) == [RECORD_SUCCESS, "d"]


# ---- determinism ---------------------------------------------------------------------------

EVERYTHING: list[Any] = [
    get("a", query={"q": "{{ trigger.payload.q }}"}, headers={"X-A": "b"}, body={"t": "{{ trigger.payload.t }}"}),
    {
        "id": "h",
        "type": "http",
        "method": "POST",
        "url": "https://example.com/{{ steps.a.output.id }}",
        "retry": {"maxAttempts": 2},
    },
    {
        "id": "c",
        "type": "condition",
        "if": {
            "all": [
                {"left": "{{ steps.a.status }}", "op": "equals", "right": 200},
                {"left": "{{ steps.h.output }}", "op": "contains", "right": "x"},
            ]
        },
        "then": [{"id": "d", "type": "delay", "seconds": 2}],
        "else": [get("e")],
    },
    {
        "id": "f",
        "type": "fan_out",
        "over": "{{ steps.a.output.items }}",
        "maxConcurrency": 2,
        "steps": [
            get("g", "v1.1/{{ item }}/{{ steps.h.status }}"),
            {"id": "i", "type": "condition", "if": {"left": "{{ index }}", "op": "gt", "right": 0}, "then": [get("j")]},
        ],
    },
    {"id": "r", "type": "response", "status": "{{ steps.a.status }}", "body": "{{ steps.f.output }}"},
]


def test_compilation_is_deterministic() -> None:
    first = compiled(EVERYTHING, trigger={"type": "request"}).to_json()
    assert compiled(EVERYTHING, trigger={"type": "request"}).to_json() == first

    # The same definition with every object's keys in reverse order, and after a round trip.
    def reverse_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: reverse_keys(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [reverse_keys(item) for item in value]
        return value

    shuffled = compiled(reverse_keys(EVERYTHING), trigger={"type": "request"}).to_json()
    assert shuffled == first
    again = compile_workflow(
        parse_workflow(definition(EVERYTHING, {"type": "request"}).to_dict(), integrations=["wordpress"]),
        runner_arn=RUNNER,
        project_id="p1",
        workflow_id="wf1",
        version=3,
    )
    assert again.to_json() == first
    assert json.loads(first) == compiled(EVERYTHING, trigger={"type": "request"}).definition
    assert asl_problems(json.loads(first)) == []
    # Different ids give a different document.
    other = compile_workflow(
        definition(EVERYTHING, {"type": "request"}), runner_arn=RUNNER, project_id="p1", workflow_id="wf1", version=4
    )
    assert other.to_json() != first


# ---- moto: the ASL is accepted and runs ------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


class TransientFailure(Exception):
    """What the fake runner raises for a transient failure."""


@dataclass
class FakeRunner:
    """A stand-in for the step runner Lambda, built on the domain code: it resolves a step's
    templates from the state it is sent, evaluates conditions, and answers canned outputs."""

    definitions: dict[tuple[str, int], WorkflowDefinition] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    fail: dict[str, list[str]] = field(default_factory=dict)  # stepId -> error per call ("" = succeed)
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(event)
        workflow = self.definitions[(event["workflow"], event["version"])]
        context = templates.template_context(event["state"])
        action, step_id = event["action"], event.get("stepId")
        if action in ("record_failure", "record_success"):
            return {}
        step = workflow.step(step_id) if step_id else None
        if action == "evaluate_condition":
            assert isinstance(step, ConditionStep)
            return {"output": conditions.evaluate(step.condition, context)}
        if action == "evaluate_items":
            assert isinstance(step, FanOutStep)
            return {"output": templates.resolve(step.over, context)}
        if action == "respond":
            assert isinstance(step, ResponseStep)
            return {"status": templates.resolve(step.status, context), "body": templates.resolve(step.body, context)}
        assert action == "run_step"
        assert step is not None
        planned = self.fail.get(step.id, [])
        with self.lock:
            error = planned.pop(0) if planned else ""
        if error == TRANSIENT_ERROR:
            raise TransientFailure("upstream 503")
        if error:
            raise ValueError(error)
        resolved = templates.resolve(step.to_dict(), context)
        output = self.outputs.get(step.id, {"resolved": resolved})
        return {"output": output, "status": 200}

    def on_invoke(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        assert request.url is not None
        function = unquote(request.url.split("/functions/")[1].split("/invocations")[0])
        assert function == RUNNER
        body = request.body if isinstance(request.body, bytes) else (request.body or "{}").encode()
        try:
            reply, headers = json.dumps(self(json.loads(body))).encode(), {}
        except Exception as error:  # noqa: BLE001 - a Lambda reports any exception as a function error
            name = TRANSIENT_ERROR if isinstance(error, TransientFailure) else type(error).__name__
            reply = json.dumps({"errorType": name, "errorMessage": str(error)}).encode()
            headers = {"X-Amz-Function-Error": "Unhandled"}
        return AWSResponse(request.url, 200, headers, _Raw(reply))


@dataclass
class Sfn:
    client: Any
    runner: FakeRunner

    def create(self, machine: StateMachine) -> str:
        name = f"wf-{uuid.uuid4().hex[:12]}"
        response = self.client.create_state_machine(
            name=name, definition=machine.to_json(), roleArn=ROLE, type=machine.type
        )
        return str(response["stateMachineArn"])

    def run(self, workflow: WorkflowDefinition, state_input: dict[str, Any], **options: Any) -> dict[str, Any]:
        machine = compile_workflow(
            workflow, runner_arn=RUNNER, project_id="p1", workflow_id="wf1", version=3, **options
        )
        self.runner.definitions[("wf1", 3)] = workflow
        arn = self.client.start_execution(stateMachineArn=self.create(machine), input=json.dumps(state_input))[
            "executionArn"
        ]
        done = threading.Event()
        while True:
            execution = self.client.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                break
            done.wait(0.05)  # the interpreter runs in a background thread
        execution["history"] = self.client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return dict(execution)


@pytest.fixture
def sfn(moto_session: None, monkeypatch: pytest.MonkeyPatch) -> Sfn:
    """moto's Step Functions with its ASL interpreter on, and the runner's Lambda invocations
    answered by a FakeRunner (a before-send hook on a default boto3 session of this test's own)."""
    _set_test_env(monkeypatch)
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    runner = FakeRunner()
    session = boto3.session.Session()
    session.events.register_first("before-send.lambda.Invoke", runner.on_invoke)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return Sfn(session.client("stepfunctions"), runner)


def input_for(payload_: dict[str, Any] | None = None) -> dict[str, Any]:
    return initial_state(
        run_id="run-1",
        trigger={"event": "article.published", "payload": payload_ or {}},
        user={"id": "u1", "metadata": {}},
        settings={"mode": "fast"},
    )


def test_moto_accepts_every_shape(sfn: Sfn) -> None:
    for machine in (
        compiled(EVERYTHING, trigger={"type": "request"}),
        compiled(EVERYTHING[:4]),
        compiled([get("a"), {"id": "f", "type": "fan_out", "over": "{{ steps.a.output[?x].y }}", "steps": [get("g")]}]),
        compiled([{"id": "d", "type": "delay", "seconds": 1}]),
    ):
        assert asl_problems(machine.definition) == []
        arn = sfn.create(machine)
        described = sfn.client.describe_state_machine(stateMachineArn=arn)
        assert json.loads(described["definition"]) == machine.definition
        assert described["type"] == machine.type


def test_the_pinned_example_runs_in_moto(sfn: Sfn) -> None:
    workflow = parse_workflow(
        PINNED_WORKFLOW,
        integrations=["wordpress"],
    )
    sfn.runner.outputs["sites"] = {"sites": [{"ID": 9001}, {"ID": 9002}]}
    execution = sfn.run(workflow, input_for({"title": "Hello", "body": "World"}))
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["steps"]["sites"] == {"output": {"sites": [{"ID": 9001}, {"ID": 9002}]}, "status": 200}
    post = output["steps"]["post"]["output"]["resolved"]
    assert post["path"] == "v1.1/sites/9001/posts/new"
    assert post["body"] == {"title": "Hello", "content": "World"}
    calls = sfn.runner.calls
    assert [(c["action"], c.get("stepId"), c.get("attempt")) for c in calls] == [
        ("run_step", "sites", 0),
        ("run_step", "post", 0),
        ("record_success", None, None),
    ]
    assert {c["project"] for c in calls} == {"p1"}
    # One state entered per request step, plus the one that records the outcome.
    entered = [e["stateEnteredEventDetails"]["name"] for e in execution["history"] if e["type"] == "TaskStateEntered"]
    assert entered == ["sites", "post", RECORD_SUCCESS]


def test_conditions_fan_outs_and_responses_run_in_moto(sfn: Sfn) -> None:
    workflow = definition(
        [
            get("sites"),
            {
                "id": "has",
                "type": "condition",
                "if": {"left": "{{ steps.sites.output.count }}", "op": "gt", "right": 0},
                "then": [
                    {
                        "id": "each",
                        "type": "fan_out",
                        "over": "{{ steps.sites.output.sites }}",
                        "maxConcurrency": 2,
                        "steps": [
                            get("posts", "v1.1/sites/{{ item.ID }}/posts", query={"n": "{{ index }}"}),
                            {
                                "id": "tagged",
                                "type": "condition",
                                "if": {"left": "{{ item.tags }}", "op": "contains", "right": "news"},
                                "then": [get("news", "v1.1/{{ steps.sites.output.count }}/{{ steps.posts.status }}")],
                            },
                        ],
                    },
                    {
                        "id": "ok",
                        "type": "response",
                        "status": 201,
                        "body": {
                            "sites": "{{ length(steps.each.output) }}",
                            "news": "{{ steps.each.output[].news.output.resolved.path }}",
                        },
                    },
                ],
                "else": [{"id": "none", "type": "response", "status": 404, "body": {"message": "no sites"}}],
            },
        ],
        trigger={"type": "request"},
    )
    sfn.runner.outputs["sites"] = {"count": 2, "sites": [{"ID": 1, "tags": ["news"]}, {"ID": 2, "tags": []}]}
    execution = sfn.run(workflow, input_for())
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["response"] == {"status": 201, "body": {"sites": 2, "news": ["v1.1/2/200"]}}
    iterations = output["steps"]["each"]["output"]
    assert [sorted(iteration) for iteration in iterations] == [["news", "posts", "tagged"], ["posts", "tagged"]]
    assert iterations[0]["posts"]["output"]["resolved"]["path"] == "v1.1/sites/1/posts"
    assert iterations[1]["posts"]["output"]["resolved"]["query"] == {"n": 1}
    assert iterations[0]["tagged"] == {"output": True}
    # The else branch: a native Choice on a missing value takes Default.
    sfn.runner.outputs["sites"] = {"sites": []}
    execution = sfn.run(workflow, input_for())
    assert json.loads(execution["output"])["response"] == {"status": 404, "body": {"message": "no sites"}}


def test_native_choice_rules_agree_with_the_reference_evaluation(sfn: Sfn) -> None:
    checks: list[dict[str, Any]] = [
        {"left": "{{ item.v }}", "op": "equals", "right": 1},
        {"left": "{{ item.v }}", "op": "equals", "right": "1"},
        {"left": "{{ item.v }}", "op": "equals", "right": True},
        {"left": "{{ item.v }}", "op": "equals", "right": None},
        {"left": "{{ item.v }}", "op": "not_equals", "right": 1},
        {"left": "{{ item.v }}", "op": "gt", "right": 1},
        {"left": "{{ item.v }}", "op": "lte", "right": 1},
        {"left": "{{ item.v }}", "op": "exists"},
        {"left": "{{ item.v }}", "op": "not_exists"},
        {"all": [{"left": "{{ item.v }}", "op": "exists"}, {"left": "{{ item.v }}", "op": "gte", "right": 0}]},
        {
            "any": [
                {"left": "{{ item.v }}", "op": "equals", "right": "a"},
                {"left": "{{ item.v }}", "op": "lt", "right": 0},
            ]
        },
    ]
    values: list[dict[str, Any]] = [
        {"v": 1},
        {"v": 1.0},
        {"v": "1"},
        {"v": True},
        {"v": None},
        {},
        {"v": 2},
        {"v": -3},
        {"v": "a"},
        {"v": [1]},
        {"v": {"x": 1}},
        {"v": False},
    ]
    steps = [
        {"id": f"c{i}", "type": "condition", "if": check, "then": [get(f"yes{i}")]} for i, check in enumerate(checks)
    ]
    workflow = definition(
        [
            {
                "id": "each",
                "type": "fan_out",
                "over": "{{ trigger.payload.values }}",
                "maxConcurrency": 12,
                "steps": steps,
            }
        ]
    )
    machine = compile_workflow(workflow, runner_arn=RUNNER, project_id="p1", workflow_id="wf1", version=3)
    inner = machine.definition["States"]["each"]["ItemProcessor"]["States"]
    assert all(inner[f"c{i}"]["Type"] == "Choice" for i in range(len(checks)))  # all native
    execution = sfn.run(workflow, input_for({"values": values}))
    assert execution["status"] == "SUCCEEDED", execution
    iterations = json.loads(execution["output"])["steps"]["each"]["output"]
    disagreements = []
    for value, iteration in zip(values, iterations, strict=True):
        for i, step in enumerate(steps):
            condition = workflow.step(step["id"])
            assert isinstance(condition, ConditionStep)
            expected = conditions.evaluate(condition.condition, {"item": value})
            if (f"yes{i}" in iteration) != expected:
                disagreements.append((value, checks[i], expected))
    assert disagreements == []


def test_a_permanent_failure_is_recorded_then_fails_the_execution(sfn: Sfn) -> None:
    workflow = definition([get("a"), get("b"), get("c")])
    sfn.runner.fail["b"] = ["upstream said 404"]
    execution = sfn.run(workflow, input_for())
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ValueError"
    assert "upstream said 404" in execution["cause"]
    actions = [(c["action"], c.get("stepId")) for c in sfn.runner.calls]
    assert actions == [("run_step", "a"), ("run_step", "b"), ("record_failure", None)]  # no retry, c never ran
    failure = sfn.runner.calls[-1]["state"]
    assert failure["failure"]["Error"] == "ValueError"
    assert failure["steps"]["a"]["status"] == 200


def test_a_failure_inside_a_fan_out_fails_the_map_and_is_recorded(sfn: Sfn) -> None:
    workflow = definition(
        [
            get("a"),
            {
                "id": "f",
                "type": "fan_out",
                "over": "{{ steps.a.output.items }}",
                "maxConcurrency": 1,
                "steps": [get("g")],
            },
        ]
    )
    sfn.runner.outputs["a"] = {"items": [1, 2]}
    sfn.runner.fail["g"] = ["", "boom"]
    execution = sfn.run(workflow, input_for())
    assert execution["status"] == "FAILED"
    assert sfn.runner.calls[-1]["action"] == "record_failure"


def test_transient_failures_are_retried_by_asl(sfn: Sfn) -> None:
    workflow = definition([get("a", retry={"maxAttempts": 3, "intervalSeconds": 1, "backoffRate": 1.0})])
    sfn.runner.fail["a"] = [TRANSIENT_ERROR, TRANSIENT_ERROR]
    execution = sfn.run(workflow, input_for())
    assert execution["status"] == "SUCCEEDED", execution
    assert [c.get("attempt") for c in sfn.runner.calls] == [0, 1, 2, None]
    failed_attempts = [e for e in execution["history"] if e["type"] == "TaskFailed"]
    assert len(failed_attempts) == 2
    # One more transient failure than attempts allow: the run fails.
    sfn.runner.calls.clear()
    sfn.runner.fail["a"] = [TRANSIENT_ERROR] * 3
    execution = sfn.run(workflow, input_for())
    assert execution["status"] == "FAILED"
    assert execution["error"] == TRANSIENT_ERROR
    assert [c["action"] for c in sfn.runner.calls] == ["run_step"] * 3 + ["record_failure"]
