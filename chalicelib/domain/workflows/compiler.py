"""The compiler from a validated workflow definition to Amazon States Language (a pure function).

What each step becomes (state names are step ids; names the compiler adds contain a `.`, which
step ids cannot, so they never collide):

- `request` / `http`: one `Task` state `<id>` that invokes the step runner
  (`arn:aws:states:::lambda:invoke`). Its result lands at `$.steps.<id>` as `{output, status}`.
  `Retry` on `TetherTransientError` (and Lambda's own service errors) with `IntervalSeconds`,
  `BackoffRate`, `JitterStrategy: FULL` and `MaxAttempts` = attempts - 1 (ASL counts retries;
  the default is 5 attempts, a step's `retry` overrides it).
- `condition`: a native `Choice` state `<id>` when every comparison reads a plain path
  (`steps.a.status`, `trigger.payload.kind`; no index, no function, no quoted name, and not a
  step's `output`, which may be a reference to a large output stored in S3) against a
  literal string, number, boolean or null, with an operator ASL has (not `contains`, and `gt`...
  only with numbers). Each rule is guarded with `IsPresent` and a type test so it means exactly
  what `conditions.evaluate` means. Any other condition becomes a `Task` `<id>` in which the
  runner evaluates it (result at `$.steps.<id>.output`, a boolean) and one extra `Choice`
  `<id>.Choice` on that boolean. moto's `Choice` ignores indexed paths; this split never
  sends one there.
- `fan_out`: a `Map` state `<id>` (inline `ItemProcessor`, `MaxConcurrency`). `ItemsPath` is the
  plain path of `over` (which is never a step's output), or, when `over` is any other
  expression, `$.steps.<id>.items` filled by a runner `Task` `<id>.Items` just before. Each
  iteration starts from `ItemSelector`: `item`/`index` (`$$.Map.Item.Value`/`Index`), `trigger`,
  `user`, `settings`, `run`, an empty `steps`, and `outerSteps` with only the outside steps the
  body reads. The iteration ends in a `Pass` `<id>.Done` that outputs its `steps`, so
  `$.steps.<id>.output` is a list of `{<inner id>: {output, status}}`.
- `delay`: a `Wait` state `<id>` with `Seconds`.
- `response`: a `Pass` `<id>` putting `{status, body}` at `$.response` when neither holds a
  template, else a runner `Task` `<id>` that resolves them into `$.response`.
- Failures: every top-level `Task` and `Map` has `Catch` `States.ALL` -> `Tether.RecordFailure`
  (a runner `Task`, action `record_failure`, which sees the error at `$.failure`) -> `Tether.Failed`
  (`Fail`). Inside a fan_out there is no `Catch`: the error fails the `Map`, whose `Catch` applies.
- Success: the last top-level state goes on to `Tether.RecordSuccess` (a runner `Task`, action
  `record_success`, `ResultPath: null`), which marks the run succeeded and ends the execution with
  the state document as its output. It costs one state transition per run, not per step.

So three `request` steps compile to six states: three step Tasks, the two Tasks that record the
outcome (not steps), and `Tether.Failed`.

What the step runner receives (`Payload`): `{"action", "project", "workflow", "version",
"stepId", "state"}` where `action` is `run_step` (return `{output, status}`; `attempt` is
`$$.State.RetryCount`), `evaluate_condition` (return `{output: bool}`), `evaluate_items`
(return `{output: list}`), `respond` (return `{status, body}`), `record_success` or `record_failure`; `state` is
the whole state document (`$`), from which `templates.template_context` builds the template
context. The execution input is `initial_state(...)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.domain.workflows import templates
from chalicelib.domain.workflows.conditions import is_number
from chalicelib.domain.workflows.model import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    ConditionStep,
    DelayStep,
    FanOutStep,
    HttpStep,
    RequestStep,
    ResponseStep,
    RetryOverride,
    Step,
    WorkflowDefinition,
    walk_steps,
)

# The error name the step runner raises for a transient failure (network, 5xx, 429). A Python
# Lambda reports an exception's class name as the error, so this is a valid class name.
TRANSIENT_ERROR = "TetherTransientError"
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
RECORD_SUCCESS = "Tether.RecordSuccess"
RECORD_FAILURE = "Tether.RecordFailure"
FAILED = "Tether.Failed"
FAILURE_PATH = "$.failure"
RESPONSE_PATH = "$.response"
# JMESPath names that are also safe JSONPath dot-notation names.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Comparisons ASL can make natively (with numbers only).
_NUMERIC_OPERATORS = {
    "gt": "NumericGreaterThan",
    "gte": "NumericGreaterThanEquals",
    "lt": "NumericLessThan",
    "lte": "NumericLessThanEquals",
}

StateMachineType = Literal["STANDARD", "EXPRESS"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures. `max_attempts` counts attempts, the first one included."""

    max_attempts: int = 5
    interval_seconds: int = 2
    backoff_rate: float = 2.0

    def with_override(self, override: RetryOverride | None) -> RetryPolicy:
        """This policy with a step's own settings applied."""
        if override is None:
            return self
        return RetryPolicy(
            override.max_attempts if override.max_attempts is not None else self.max_attempts,
            override.interval_seconds if override.interval_seconds is not None else self.interval_seconds,
            override.backoff_rate if override.backoff_rate is not None else self.backoff_rate,
        )


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class StateMachine:
    """A compiled workflow: the ASL document and the state machine type to create it as."""

    definition: dict[str, Any]
    type: StateMachineType

    def to_json(self) -> str:
        """The ASL as canonical JSON (sorted keys, compact): same workflow, same bytes."""
        return json.dumps(self.definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def initial_state(
    *, run_id: str, trigger: dict[str, Any], user: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """The execution input a run starts with (every key the compiled states read must exist)."""
    return {"run": {"id": run_id}, "trigger": trigger, "user": user, "settings": settings, "steps": {}}


def compile_workflow(
    definition: WorkflowDefinition,
    *,
    runner_arn: str,
    project_id: str,
    workflow_id: str,
    version: int,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> StateMachine:
    """Compile a validated definition for one deployed version. Pure and deterministic."""
    compiler = _Compiler(runner_arn, {"project": project_id, "workflow": workflow_id, "version": version}, retry)
    states: dict[str, dict[str, Any]] = {}
    states[RECORD_SUCCESS] = compiler.record_success()
    start = compiler.sequence(definition.steps, states, RECORD_SUCCESS, _Scope.top())
    assert start is not None  # a valid definition has at least one step
    if compiler.catches:
        states[RECORD_FAILURE] = compiler.record_failure()
        states[FAILED] = {"Type": "Fail", "ErrorPath": f"{FAILURE_PATH}.Error", "CausePath": f"{FAILURE_PATH}.Cause"}
    asl = {
        "Comment": f"Tether workflow {workflow_id} version {version}",
        "StartAt": start,
        "States": states,
    }
    return StateMachine(asl, "EXPRESS" if definition.answers_requests else "STANDARD")


@dataclass(frozen=True)
class _Scope:
    """Where states are being generated: the top level, or inside a fan_out's iteration.

    `local` holds the step ids whose results live in this scope's `$.steps`; inside a fan_out,
    other steps are read from `$.outerSteps`."""

    in_map: bool
    local: frozenset[str] = field(default_factory=frozenset)
    depth: int = 0  # how many fan_outs this scope is inside

    @staticmethod
    def top() -> _Scope:
        return _Scope(in_map=False)

    def step_path(self, step_id: str) -> str:
        where = "steps" if not self.in_map or step_id in self.local else "outerSteps"
        return f"$.{where}.{step_id}"


def _local_ids(steps: Iterable[Step]) -> frozenset[str]:
    """Ids of steps whose results land in the scope these steps run in (fan_out bodies excluded)."""
    found: set[str] = set()
    for step in steps:
        found.add(step.id)
        if isinstance(step, ConditionStep):
            found |= _local_ids(step.then) | _local_ids(step.else_)
    return frozenset(found)


def _template_values(step: Step) -> list[Any]:
    """The fields of a step that may hold templates."""
    if isinstance(step, RequestStep):
        return [step.path, step.query, step.headers, step.body, step.credential_id]
    if isinstance(step, HttpStep):
        return [step.url, step.query, step.headers, step.body]
    if isinstance(step, ConditionStep):
        return list(_condition_operands(step.condition))
    if isinstance(step, FanOutStep):
        return [step.over]
    if isinstance(step, ResponseStep):
        return [step.status, step.body]
    return []


def _condition_operands(condition: Condition) -> Iterable[Any]:
    if isinstance(condition, AllOf | AnyOf):
        for part in condition.conditions:
            yield from _condition_operands(part)
    else:
        yield condition.left
        yield condition.right


def _referenced_steps(steps: tuple[Step, ...]) -> set[str]:
    """Every step id a template anywhere in these steps (nested ones included) reads."""
    found: set[str] = set()
    for step in walk_steps(steps):
        for value in _template_values(step):
            for _, text in templates.iter_strings(value, "$"):
                if templates.has_template(text):
                    for expression in templates.parse(text).expressions:
                        found.update(templates.step_references(expression))
    return found


def _holds_template(value: Any) -> bool:
    return any(templates.has_template(text) for _, text in templates.iter_strings(value, "$"))


def _plain_path(value: Any, scope: _Scope) -> str | None:
    """The JSONPath of a lone template that is a chain of plain names (`trigger.payload.kind`,
    `steps.a.status`; not a step's output, which the runner reads), else None."""
    if not isinstance(value, str) or not templates.has_template(value):
        return None
    template = templates.parse(value)
    if not template.is_lone:
        return None
    node = template.expressions[0].parsed.parsed
    names: list[str] = []
    if node["type"] == "field":
        names = [str(node["value"])]
    elif node["type"] == "subexpression" and all(child["type"] == "field" for child in node["children"]):
        names = [str(child["value"]) for child in node["children"]]
    if not names or not all(_PLAIN_NAME.fullmatch(name) for name in names):
        return None
    if names[0] not in templates.ROOT_NAMES:
        return None
    if names[0] == "steps":
        # A step's status is always in the state; its output may be a reference to a large
        # output stored in S3, which only the runner resolves.
        if len(names) < 3 or names[2] != "status":
            return None
        return ".".join([scope.step_path(names[1]), *names[2:]])
    return "$." + ".".join(names)


def _present(path: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": True}


def _exists_rule(path: str) -> dict[str, Any]:
    return {"And": [_present(path), {"Variable": path, "IsNull": False}]}


def _equals_rule(path: str, right: Any) -> dict[str, Any] | None:
    if right is None:
        return {"Not": _exists_rule(path)}
    if isinstance(right, bool):
        type_test, operator = "IsBoolean", "BooleanEquals"
    elif is_number(right):
        type_test, operator = "IsNumeric", "NumericEquals"
    elif isinstance(right, str) and not templates.has_template(right):
        type_test, operator = "IsString", "StringEquals"
    else:
        return None
    return {"And": [_present(path), {"Variable": path, type_test: True}, {"Variable": path, operator: right}]}


def choice_rule(condition: Condition, scope: _Scope) -> dict[str, Any] | None:
    """The native Choice rule (without `Next`) meaning the same as `conditions.evaluate`, or
    None when the runner has to evaluate the condition."""
    if isinstance(condition, AllOf | AnyOf):
        rules = [choice_rule(part, scope) for part in condition.conditions]
        if any(rule is None for rule in rules):
            return None
        if len(rules) == 1:
            return rules[0]
        return {"And" if isinstance(condition, AllOf) else "Or": rules}
    assert isinstance(condition, Comparison)
    path = _plain_path(condition.left, scope)
    if path is None:
        return None
    op, right = condition.op, condition.right
    if op == "exists":
        return _exists_rule(path)
    if op == "not_exists":
        return {"Not": _exists_rule(path)}
    if op in ("equals", "not_equals"):
        rule = _equals_rule(path, right)
        if rule is None or op == "equals":
            return rule
        return {"Not": rule}
    if op in _NUMERIC_OPERATORS and is_number(right):
        return {
            "And": [
                _present(path),
                {"Variable": path, "IsNumeric": True},
                {"Variable": path, _NUMERIC_OPERATORS[op]: right},
            ]
        }
    return None


class _Compiler:
    """Generates states; remembers whether the failure and success states are needed."""

    def __init__(self, runner_arn: str, identity: dict[str, Any], retry: RetryPolicy) -> None:
        self.runner_arn = runner_arn
        self.identity = identity
        self.retry = retry
        self.catches = False

    # ---- building blocks -----------------------------------------------------------------

    def payload(self, action: str, step_id: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"action": action, **self.identity, "state.$": "$"}
        if step_id is not None:
            payload["stepId"] = step_id
        if action == "run_step":
            payload["attempt.$"] = "$$.State.RetryCount"
        return payload

    def retriers(self, policy: RetryPolicy, *, transient: bool) -> list[dict[str, Any]]:
        errors = [TRANSIENT_ERROR, *LAMBDA_SERVICE_ERRORS] if transient else list(LAMBDA_SERVICE_ERRORS)
        if policy.max_attempts <= 1:
            return []
        return [
            {
                "ErrorEquals": errors,
                "IntervalSeconds": policy.interval_seconds,
                "MaxAttempts": policy.max_attempts - 1,
                "BackoffRate": policy.backoff_rate,
                "JitterStrategy": "FULL",
            }
        ]

    def invoke(
        self,
        payload: dict[str, Any],
        *,
        selector: dict[str, str] | None,
        result_path: str | None,
        retriers: list[dict[str, Any]],
        scope: _Scope,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": self.runner_arn, "Payload": payload},
            "ResultPath": result_path,
        }
        if selector is not None:
            state["ResultSelector"] = selector
        if retriers:
            state["Retry"] = retriers
        self.catch(state, scope)
        return state

    def catch(self, state: dict[str, Any], scope: _Scope) -> None:
        if not scope.in_map:
            self.catches = True
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": FAILURE_PATH, "Next": RECORD_FAILURE}]

    @staticmethod
    def target(after: str | None) -> str:
        """A state name to jump to for 'what comes next' (every sequence is followed by a state:
        `Tether.RecordSuccess` at the top level, `<id>.Done` in a fan_out)."""
        assert after is not None
        return after

    @staticmethod
    def link(state: dict[str, Any], after: str | None) -> dict[str, Any]:
        if after is None:
            state["End"] = True
        else:
            state["Next"] = after
        return state

    def record_success(self) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": self.runner_arn, "Payload": self.payload("record_success")},
            "ResultPath": None,
            "Retry": self.retriers(self.retry, transient=False),
            "End": True,
        }

    def record_failure(self) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": self.runner_arn, "Payload": self.payload("record_failure")},
            "ResultPath": None,
            "Retry": self.retriers(self.retry, transient=False),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": FAILED}],
            "Next": FAILED,
        }

    # ---- steps ---------------------------------------------------------------------------

    def sequence(
        self, steps: tuple[Step, ...], states: dict[str, dict[str, Any]], after: str | None, scope: _Scope
    ) -> str | None:
        """Add the states of a list of steps; return the first state's name (`after` if empty)."""
        following = after
        for step in reversed(steps):
            following = self.step(step, states, following, scope)
        return following

    def step(self, step: Step, states: dict[str, dict[str, Any]], after: str | None, scope: _Scope) -> str:
        if isinstance(step, RequestStep | HttpStep):
            policy = self.retry.with_override(step.retry)
            states[step.id] = self.link(
                self.invoke(
                    self.payload("run_step", step.id),
                    selector={"output.$": "$.Payload.output", "status.$": "$.Payload.status"},
                    result_path=f"$.steps.{step.id}",
                    retriers=self.retriers(policy, transient=True),
                    scope=scope,
                ),
                after,
            )
            return step.id
        if isinstance(step, ConditionStep):
            return self.condition(step, states, after, scope)
        if isinstance(step, FanOutStep):
            return self.fan_out(step, states, after, scope)
        if isinstance(step, DelayStep):
            states[step.id] = self.link({"Type": "Wait", "Seconds": step.seconds}, after)
            return step.id
        assert isinstance(step, ResponseStep)
        return self.response(step, states, after, scope)

    def condition(
        self, step: ConditionStep, states: dict[str, dict[str, Any]], after: str | None, scope: _Scope
    ) -> str:
        then_start = self.target(self.sequence(step.then, states, after, scope))
        else_start = self.target(self.sequence(step.else_, states, after, scope))
        rule = choice_rule(step.condition, scope)
        if rule is not None:
            states[step.id] = {"Type": "Choice", "Choices": [{**rule, "Next": then_start}], "Default": else_start}
            return step.id
        choice_name = f"{step.id}.Choice"
        result = f"$.steps.{step.id}"
        states[choice_name] = {
            "Type": "Choice",
            "Choices": [{"Variable": f"{result}.output", "BooleanEquals": True, "Next": then_start}],
            "Default": else_start,
        }
        states[step.id] = self.invoke(
            self.payload("evaluate_condition", step.id),
            selector={"output.$": "$.Payload.output"},
            result_path=result,
            retriers=self.retriers(self.retry, transient=False),
            scope=scope,
        )
        states[step.id]["Next"] = choice_name
        return step.id

    def fan_out(self, step: FanOutStep, states: dict[str, dict[str, Any]], after: str | None, scope: _Scope) -> str:
        inner_scope = _Scope(in_map=True, local=_local_ids(step.steps), depth=scope.depth + 1)
        done = f"{step.id}.Done"
        inner_states: dict[str, dict[str, Any]] = {}
        start = self.sequence(step.steps, inner_states, done, inner_scope)
        inner_states[done] = {"Type": "Pass", "InputPath": "$.steps", "End": True}
        outside = sorted(_referenced_steps(step.steps) - _nested_ids(step.steps))
        items_path = _plain_path(step.over, scope)
        first = step.id
        if items_path is None:
            first = f"{step.id}.Items"
            items_path = f"$.steps.{step.id}.items"
            states[first] = self.invoke(
                self.payload("evaluate_items", step.id),
                selector={"items.$": "$.Payload.output"},
                result_path=f"$.steps.{step.id}",
                retriers=self.retriers(self.retry, transient=False),
                scope=scope,
            )
            states[first]["Next"] = step.id
        state: dict[str, Any] = {
            "Type": "Map",
            "ItemsPath": items_path,
            "MaxConcurrency": step.max_concurrency,
            "ItemSelector": {
                "item.$": "$$.Map.Item.Value",
                "index.$": "$$.Map.Item.Index",
                "run.$": "$.run",
                "trigger.$": "$.trigger",
                "user.$": "$.user",
                "settings.$": "$.settings",
                "steps": {},
                "outerSteps": {f"{ref}.$": scope.step_path(ref) for ref in outside},
                **_within(scope),
            },
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": start, "States": inner_states},
            "ResultSelector": {"output.$": "$"},
            "ResultPath": f"$.steps.{step.id}",
        }
        self.catch(state, scope)
        states[step.id] = self.link(state, after)
        return first

    def response(self, step: ResponseStep, states: dict[str, dict[str, Any]], after: str | None, scope: _Scope) -> str:
        if _holds_template(step.status) or _holds_template(step.body):
            state = self.invoke(
                self.payload("respond", step.id),
                selector={"status.$": "$.Payload.status", "body.$": "$.Payload.body"},
                result_path=RESPONSE_PATH,
                retriers=self.retriers(self.retry, transient=False),
                scope=scope,
            )
        else:
            state = {"Type": "Pass", "Result": {"status": step.status, "body": step.body}, "ResultPath": RESPONSE_PATH}
        states[step.id] = self.link(state, after)
        return step.id


def _within(scope: _Scope) -> dict[str, Any]:
    """Inside a fan_out, a nested fan_out's iterations carry the iteration they run in (`within`:
    its `index`, and its own `within` deeper down), so step records of different outer
    iterations never share a key."""
    if not scope.in_map:
        return {}
    around: dict[str, Any] = {"index.$": "$.index"}
    if scope.depth > 1:
        around["within.$"] = "$.within"
    return {"within": around}


def _nested_ids(steps: tuple[Step, ...]) -> frozenset[str]:
    """Ids of every step inside these steps, nested fan_out bodies included."""
    return frozenset(step.id for step in walk_steps(steps))
