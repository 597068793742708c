"""The workflow definition model: triggers, steps and conditions as frozen dataclasses.

Build one with `validation.parse_workflow` (which checks the JSON first); `to_dict` gives the
canonical JSON back. Field names follow DESIGN's pinned JSON shape (camelCase on the wire).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

TriggerType = Literal["app_event", "request", "webhook", "schedule", "integration_enabled"]
TRIGGER_TYPES: tuple[TriggerType, ...] = ("app_event", "request", "webhook", "schedule", "integration_enabled")
STEP_TYPES = ("request", "http", "condition", "fan_out", "delay", "response")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
COMPARISON_OPS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "contains", "exists", "not_exists")
UNARY_OPS = ("exists", "not_exists")


@dataclass(frozen=True)
class Trigger:
    """What starts a run. `event` for app_event; `user_id_path` for webhook (JMESPath over the
    body); `cron` and `timezone` for schedule; request and integration_enabled have no fields."""

    type: TriggerType
    event: str | None = None
    user_id_path: str | None = None
    cron: str | None = None
    timezone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        out: dict[str, Any] = {"type": self.type}
        for key, value in (
            ("event", self.event),
            ("userIdPath", self.user_id_path),
            ("cron", self.cron),
            ("timezone", self.timezone),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class RetryOverride:
    """A step's own retry policy for transient failures; unset fields use the defaults.
    `max_attempts` counts attempts (the first try included), not retries."""

    max_attempts: int | None = None
    interval_seconds: int | None = None
    backoff_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        pairs = (
            ("maxAttempts", self.max_attempts),
            ("intervalSeconds", self.interval_seconds),
            ("backoffRate", self.backoff_rate),
        )
        return {key: value for key, value in pairs if value is not None}


@dataclass(frozen=True)
class Comparison:
    """`{left, op, right}`; `right` is unused by exists / not_exists. Either side may hold templates."""

    left: Any
    op: str
    right: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        out = {"left": self.left, "op": self.op}
        if self.op not in UNARY_OPS:
            out["right"] = self.right
        return out


@dataclass(frozen=True)
class AllOf:
    """True when every condition is."""

    conditions: tuple[Condition, ...]

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {"all": [condition.to_dict() for condition in self.conditions]}


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is."""

    conditions: tuple[Condition, ...]

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {"any": [condition.to_dict() for condition in self.conditions]}


Condition: TypeAlias = Comparison | AllOf | AnyOf


@dataclass(frozen=True)
class RequestStep:
    """Calls the workflow's integration API with the end user's credential (the proxy's rules)."""

    id: str
    method: str
    path: str
    query: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    body: Any = None
    credential_id: str | None = None
    retry: RetryOverride | None = None
    type: Literal["request"] = "request"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        out: dict[str, Any] = {"id": self.id, "type": self.type, "method": self.method, "path": self.path}
        _put_optional(out, query=self.query, headers=self.headers, body=self.body, credentialId=self.credential_id)
        if self.retry is not None:
            out["retry"] = self.retry.to_dict()
        return out


@dataclass(frozen=True)
class HttpStep:
    """Calls any https URL (with the proxy's SSRF rules), without the user's credential."""

    id: str
    method: str
    url: str
    query: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    body: Any = None
    retry: RetryOverride | None = None
    type: Literal["http"] = "http"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        out: dict[str, Any] = {"id": self.id, "type": self.type, "method": self.method, "url": self.url}
        _put_optional(out, query=self.query, headers=self.headers, body=self.body)
        if self.retry is not None:
            out["retry"] = self.retry.to_dict()
        return out


@dataclass(frozen=True)
class ConditionStep:
    """Runs `then` when the condition holds, else `else_` (either may be empty)."""

    id: str
    condition: Condition
    then: tuple[Step, ...]
    else_: tuple[Step, ...] = ()
    type: Literal["condition"] = "condition"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {
            "id": self.id,
            "type": self.type,
            "if": self.condition.to_dict(),
            "then": [step.to_dict() for step in self.then],
            "else": [step.to_dict() for step in self.else_],
        }


@dataclass(frozen=True)
class FanOutStep:
    """Runs `steps` once per element of the list `over` (a lone template), at most
    `max_concurrency` at a time; inside, templates see `item` and `index`."""

    id: str
    over: str
    steps: tuple[Step, ...]
    max_concurrency: int
    type: Literal["fan_out"] = "fan_out"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {
            "id": self.id,
            "type": self.type,
            "over": self.over,
            "steps": [step.to_dict() for step in self.steps],
            "maxConcurrency": self.max_concurrency,
        }


@dataclass(frozen=True)
class DelayStep:
    """Waits `seconds` before the next step."""

    id: str
    seconds: int
    type: Literal["delay"] = "delay"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {"id": self.id, "type": self.type, "seconds": self.seconds}


@dataclass(frozen=True)
class ResponseStep:
    """Sets what a request-triggered workflow answers (the last one that ran wins)."""

    id: str
    status: Any = 200
    body: Any = None
    type: Literal["response"] = "response"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form."""
        return {"id": self.id, "type": self.type, "status": self.status, "body": self.body}


Step: TypeAlias = RequestStep | HttpStep | ConditionStep | FanOutStep | DelayStep | ResponseStep
# Steps whose result other steps may read as `steps.<id>` (output, and status for request/http).
STEPS_WITH_OUTPUT = ("request", "http", "fan_out")


@dataclass(frozen=True)
class WorkflowDefinition:
    """A validated workflow: one integration, one trigger, a list of steps."""

    name: str
    integration: str
    trigger: Trigger
    steps: tuple[Step, ...]
    default_enabled: bool = False
    _index: dict[str, Step] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for step in walk_steps(self.steps):
            self._index[step.id] = step

    def step(self, step_id: str) -> Step | None:
        """The step with this id, at any depth."""
        return self._index.get(step_id)

    @property
    def answers_requests(self) -> bool:
        """True for request-triggered workflows (run synchronously, Express state machines)."""
        return self.trigger.type == "request"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form (what `parse_workflow` accepts back)."""
        return {
            "name": self.name,
            "integration": self.integration,
            "defaultEnabled": self.default_enabled,
            "trigger": self.trigger.to_dict(),
            "steps": [step.to_dict() for step in self.steps],
        }


def walk_steps(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step, depth first, in definition order (branches and fan_out bodies included)."""
    for step in steps:
        yield step
        if isinstance(step, ConditionStep):
            yield from walk_steps(step.then)
            yield from walk_steps(step.else_)
        elif isinstance(step, FanOutStep):
            yield from walk_steps(step.steps)


def _put_optional(out: dict[str, Any], **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            out[key] = value
