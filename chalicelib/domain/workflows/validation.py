"""Validation of workflow definitions: one pass that reports every problem with its JSON path.

`validate_workflow` returns the problems (empty when the definition is good); `parse_workflow`
returns the model or raises `InvalidWorkflow` carrying all of them.

Which steps a template may read (`steps.<id>`): the steps that certainly ran before it.
- In a list, the earlier steps of that list, and whatever the enclosing list could see.
- Inside a condition's `then`/`else`, the earlier steps of that branch too. After the condition,
  no step of either branch is visible: it may not have run.
- Inside a fan_out, its earlier inner steps (same iteration) and what the fan_out could see;
  after it, only the fan_out itself (`steps.<fan_out id>.output` is the list of iterations'
  `{<inner id>: {output, status}}`). `item` and `index` exist only inside a fan_out.
- Only request, http and fan_out steps have an output; condition, delay and response steps
  cannot be referenced.
Step ids are unique across the whole definition (they become state names and JSON paths).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.proxy_paths import clean_segments
from chalicelib.domain.workflows import schedule, templates
from chalicelib.domain.workflows.conditions import is_number
from chalicelib.domain.workflows.model import (
    COMPARISON_OPS,
    HTTP_METHODS,
    STEP_TYPES,
    STEPS_WITH_OUTPUT,
    TRIGGER_TYPES,
    UNARY_OPS,
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
    Trigger,
    WorkflowDefinition,
)

STEP_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_NAME_CHARS = 200
MAX_STEPS = 100
MAX_NESTING = 6
MAX_CONDITION_DEPTH = 5
MAX_CONDITION_PARTS = 20
MAX_CONCURRENCY = 40  # an inline Map's limit
DEFAULT_CONCURRENCY = 10
MAX_DELAY_SECONDS = 365 * 24 * 3600  # a Standard execution lasts at most a year
MAX_EXPRESS_DELAY_SECONDS = 300  # an Express execution lasts at most five minutes
MAX_RETRY_ATTEMPTS = 10
MAX_RETRY_INTERVAL = 300
MAX_BACKOFF_RATE = 10.0
MAX_PATH_CHARS = 2000
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
# Headers a step may not set: the runner supplies credentials and the host itself.
FORBIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "host"})

_TOP_FIELDS = frozenset({"name", "integration", "defaultEnabled", "trigger", "steps"})
_TRIGGER_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "app_event": (frozenset({"event"}), frozenset({"event"})),
    "request": (frozenset(), frozenset()),
    "webhook": (frozenset({"userIdPath"}), frozenset()),
    "schedule": (frozenset({"cron", "timezone"}), frozenset({"cron", "timezone"})),
    "integration_enabled": (frozenset(), frozenset()),
}
_STEP_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "request": (
        frozenset({"method", "path", "query", "headers", "body", "credentialId", "retry"}),
        frozenset({"path"}),
    ),
    "http": (frozenset({"method", "url", "query", "headers", "body", "retry"}), frozenset({"url"})),
    "condition": (frozenset({"if", "then", "else"}), frozenset({"if", "then"})),
    "fan_out": (frozenset({"over", "steps", "maxConcurrency"}), frozenset({"over", "steps"})),
    "delay": (frozenset({"seconds"}), frozenset({"seconds"})),
    "response": (frozenset({"status", "body"}), frozenset()),
}
_RETRY_FIELDS = frozenset({"maxAttempts", "intervalSeconds", "backoffRate"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, at a JSON path such as `$.steps[1].path`."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The API's `{"path", "message"}` form."""
        return {"path": self.path, "message": self.message}


class InvalidWorkflow(BadRequest):
    """A definition with problems; `problems` lists every one of them."""

    code = "invalid_workflow"

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(f"The workflow definition has {count} problem{'s' if count != 1 else ''}.")
        self.problems = problems

    def details(self) -> dict[str, object]:
        """Every problem, each `{"path", "message"}`."""
        return {"problems": [problem.to_dict() for problem in self.problems]}


def validate_workflow(raw: Any, *, integrations: Iterable[str]) -> list[Problem]:
    """Every problem of a definition (JSON already parsed); [] when it is valid.

    `integrations` are the integration types the project has."""
    checker = _Checker(integrations)
    checker.workflow(raw)
    return checker.result()


def parse_workflow(raw: Any, *, integrations: Iterable[str]) -> WorkflowDefinition:
    """The validated model of a definition, or `InvalidWorkflow` listing every problem."""
    checker = _Checker(integrations)
    definition = checker.workflow(raw)
    problems = checker.result()
    if problems or definition is None:
        raise InvalidWorkflow(problems)
    return definition


@dataclass(frozen=True)
class _Scope:
    """Where a step sits: the steps visible to it, whether inside a fan_out, nesting depth."""

    visible: frozenset[str]
    in_fan_out: bool
    depth: int


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Walks a raw definition once, collecting problems and building the model."""

    def __init__(self, integrations: Iterable[str]) -> None:
        self.integrations = frozenset(integrations)
        self.problems: list[Problem] = []
        self.id_paths: dict[str, str] = {}
        self.id_types: dict[str, str] = {}
        self.step_count = 0
        self.trigger_type: str | None = None

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def result(self) -> list[Problem]:
        unique: dict[tuple[str, str], Problem] = {}
        for problem in self.problems:
            unique.setdefault((problem.path, problem.message), problem)
        return list(unique.values())

    # ---- helpers -------------------------------------------------------------------------

    def fields(self, raw: Mapping[str, Any], path: str, allowed: Iterable[str], required: Iterable[str]) -> None:
        allowed_set = set(allowed)
        for key in raw:
            if key not in allowed_set:
                self.add(templates.child_path(path, str(key)), f"Unknown field '{key}'.")
        for key in sorted(required):
            if key not in raw:
                self.add(templates.child_path(path, key), f"'{key}' is required.")

    def string(self, raw: Mapping[str, Any], key: str, path: str, *, max_chars: int = MAX_NAME_CHARS) -> str | None:
        value = raw.get(key)
        if key not in raw:
            return None
        if not isinstance(value, str):
            self.add(f"{path}.{key}", f"'{key}' must be a string, not {_type_name(value)}.")
            return None
        if not value.strip():
            self.add(f"{path}.{key}", f"'{key}' must not be empty.")
            return None
        if len(value) > max_chars:
            self.add(f"{path}.{key}", f"'{key}' is longer than {max_chars} characters.")
            return None
        return value

    def int_in(self, value: Any, path: str, name: str, low: int, high: int) -> int | None:
        if not _is_int(value) or not low <= value <= high:
            self.add(path, f"'{name}' must be a whole number from {low} to {high}.")
            return None
        return int(value)

    def template_strings(self, value: Any, path: str, scope: _Scope) -> None:
        """Check every template inside a JSON value: syntax, JMESPath and what it reads."""
        for string_path, text in templates.iter_strings(value, path):
            if templates.has_template(text):
                self.template(text, string_path, scope)

    def template(self, text: str, path: str, scope: _Scope) -> templates.Template | None:
        try:
            template = templates.parse(text)
        except templates.TemplateError as error:
            self.add(path, error.message)
            return None
        for expression in template.expressions:
            for access in templates.root_accesses(expression):
                self.reference(access, path, scope)
        return template

    def reference(self, access: templates.RootAccess, path: str, scope: _Scope) -> None:
        name = access.name
        if name not in templates.ROOT_NAMES:
            roots = ", ".join(sorted(templates.ROOT_NAMES))
            self.add(path, f"A template reads '{name}', which does not exist; a template starts with one of: {roots}.")
        elif name in ("item", "index") and not scope.in_fan_out:
            self.add(path, f"'{name}' exists only inside a fan_out step's steps.")
        elif name == "steps":
            step_id = access.step_id
            if step_id is None:
                self.add(path, "Read a step's result as 'steps.<id>.output' or 'steps.<id>.status'.")
            elif step_id not in self.id_paths:
                self.add(path, f"A template reads step '{step_id}', but there is no step with that id.")
            elif self.id_types[step_id] not in STEP_TYPES:
                pass  # that step's unknown type is reported; say nothing more about it here
            elif self.id_types[step_id] not in STEPS_WITH_OUTPUT:
                self.add(path, f"Step '{step_id}' is a {self.id_types[step_id]} step, which has no output.")
            elif step_id not in scope.visible:
                self.add(
                    path,
                    f"A template reads step '{step_id}', which cannot have run before this point "
                    "(it comes later, or sits in a condition branch or fan_out that does not contain this step).",
                )

    # ---- the definition ------------------------------------------------------------------

    def workflow(self, raw: Any) -> WorkflowDefinition | None:
        if not isinstance(raw, dict):
            self.add("$", f"A workflow definition must be a JSON object, not {_type_name(raw)}.")
            return None
        self.fields(raw, "$", _TOP_FIELDS, ("name", "integration", "trigger", "steps"))
        name = self.string(raw, "name", "$")
        integration = self.string(raw, "integration", "$")
        if integration is not None and integration not in self.integrations:
            known = ", ".join(sorted(self.integrations)) or "none"
            self.add("$.integration", f"The project has no integration '{integration}' (it has: {known}).")
        default_enabled = raw.get("defaultEnabled", False)
        if not isinstance(default_enabled, bool):
            self.add("$.defaultEnabled", "'defaultEnabled' must be true or false.")
        trigger = self.trigger(raw["trigger"], "$.trigger") if "trigger" in raw else None
        steps: tuple[Step, ...] | None = None
        if "steps" in raw:
            raw_steps = raw["steps"]
            if not isinstance(raw_steps, list) or not raw_steps:
                self.add("$.steps", "'steps' must be a non-empty list.")
            else:
                self.collect_ids(raw_steps, "$.steps")
                if self.step_count > MAX_STEPS:
                    self.add("$.steps", f"A workflow has at most {MAX_STEPS} steps (this one has {self.step_count}).")
                steps = self.steps(raw_steps, "$.steps", _Scope(frozenset(), in_fan_out=False, depth=0))
        if steps is not None and self.trigger_type == "request":
            waited = _longest_wait(steps)
            if waited > MAX_EXPRESS_DELAY_SECONDS:
                self.add(
                    "$.steps",
                    f"The delays on one path add up to {waited} s; a request-triggered workflow runs "
                    f"for at most {MAX_EXPRESS_DELAY_SECONDS} s.",
                )
        if self.problems or name is None or integration is None or trigger is None or steps is None:
            return None
        return WorkflowDefinition(name, integration, trigger, steps, default_enabled=bool(default_enabled))

    def trigger(self, raw: Any, path: str) -> Trigger | None:
        if not isinstance(raw, dict):
            self.add(path, f"'trigger' must be an object, not {_type_name(raw)}.")
            return None
        kind = raw.get("type")
        if kind not in TRIGGER_TYPES:
            self.add(f"{path}.type", f"The trigger type must be one of: {', '.join(TRIGGER_TYPES)}.")
            return None
        self.trigger_type = kind
        allowed, required = _TRIGGER_FIELDS[kind]
        self.fields(raw, path, allowed | {"type"}, required)
        before = len(self.problems)
        event = self.string(raw, "event", path)
        user_id_path = self.string(raw, "userIdPath", path, max_chars=templates.MAX_EXPRESSION_CHARS)
        if user_id_path is not None:
            try:
                templates.compile_expression(user_id_path)
            except templates.TemplateError as error:
                self.add(f"{path}.userIdPath", error.message)
        cron = self.string(raw, "cron", path)
        if cron is not None:
            problem = schedule.cron_problem(cron)
            if problem is not None:
                self.add(f"{path}.cron", problem)
        timezone = self.string(raw, "timezone", path)
        if timezone is not None and not _is_timezone(timezone):
            self.add(f"{path}.timezone", f"'{timezone[:60]}' is not an IANA time zone name (e.g. Europe/Paris, UTC).")
        if len(self.problems) != before:
            return None
        return Trigger(kind, event=event, user_id_path=user_id_path, cron=cron, timezone=timezone)

    def collect_ids(self, raw_steps: list[Any], path: str) -> None:
        """First pass: every step id with its path and type, so references and duplicates
        anywhere (even to later steps) can be named."""
        for index, raw in enumerate(raw_steps):
            if not isinstance(raw, dict):
                continue
            self.step_count += 1
            step_path = f"{path}[{index}]"
            step_id = raw.get("id")
            if isinstance(step_id, str) and STEP_ID.fullmatch(step_id):
                if step_id in self.id_paths:
                    first = self.id_paths[step_id]
                    self.add(f"{step_path}.id", f"Step id '{step_id}' is used twice (first at {first}.id).")
                else:
                    self.id_paths[step_id] = step_path
                    self.id_types[step_id] = str(raw.get("type"))
            for key in ("then", "else", "steps"):
                if isinstance(raw.get(key), list):
                    self.collect_ids(raw[key], f"{step_path}.{key}")

    def steps(self, raw_steps: list[Any], path: str, scope: _Scope) -> tuple[Step, ...] | None:
        built: list[Step] = []
        visible = scope.visible
        ok = True
        for index, raw in enumerate(raw_steps):
            step = self.step(raw, f"{path}[{index}]", _Scope(visible, scope.in_fan_out, scope.depth))
            if step is None:
                ok = False
            else:
                built.append(step)
            # A step with other problems still counts as having run, so its readers get no
            # second, misleading problem.
            step_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(step_id, str) and self.id_types.get(step_id) not in ("condition", "delay", "response"):
                visible = visible | {step_id}
        return tuple(built) if ok else None

    def step(self, raw: Any, path: str, scope: _Scope) -> Step | None:
        if not isinstance(raw, dict):
            self.add(path, f"A step must be an object, not {_type_name(raw)}.")
            return None
        before = len(self.problems)
        step_id = raw.get("id")
        if "id" not in raw:
            self.add(f"{path}.id", "'id' is required.")
        elif not isinstance(step_id, str) or not STEP_ID.fullmatch(step_id):
            self.add(
                f"{path}.id",
                "A step id starts with a letter and has at most 64 letters, digits, '_' or '-'.",
            )
        kind = raw.get("type")
        if kind not in STEP_TYPES:
            shown = f"'{kind}'" if isinstance(kind, str) else _type_name(kind)
            self.add(f"{path}.type", f"Unknown step type {shown}; one of: {', '.join(STEP_TYPES)}.")
            return None
        allowed, required = _STEP_FIELDS[kind]
        self.fields(raw, path, allowed | {"id", "type"}, required)
        builders = {
            "request": self.step_request,
            "http": self.step_http,
            "condition": self.step_condition,
            "fan_out": self.step_fan_out,
            "delay": self.step_delay,
            "response": self.step_response,
        }
        step = builders[kind](raw, path, scope, str(step_id))
        if len(self.problems) != before:
            return None
        return step

    # ---- each step type ------------------------------------------------------------------

    def method(self, raw: Mapping[str, Any], path: str) -> str:
        method = raw.get("method", "GET")
        if method not in HTTP_METHODS:
            self.add(f"{path}.method", f"'method' must be one of: {', '.join(HTTP_METHODS)}.")
        return str(method)

    def call_parts(self, raw: Mapping[str, Any], path: str, scope: _Scope) -> None:
        """query, headers and body of request/http steps."""
        query = raw.get("query")
        if "query" in raw:
            if not isinstance(query, dict):
                self.add(f"{path}.query", "'query' must be an object of names to values.")
            else:
                for key, value in query.items():
                    if not isinstance(value, str | int | float | bool):
                        self.add(
                            templates.child_path(f"{path}.query", key),
                            "A query value must be a string, number or boolean.",
                        )
        headers = raw.get("headers")
        if "headers" in raw:
            if not isinstance(headers, dict):
                self.add(f"{path}.headers", "'headers' must be an object of names to strings.")
            else:
                for key, value in headers.items():
                    key_path = templates.child_path(f"{path}.headers", key)
                    if not HEADER_NAME.fullmatch(key):
                        self.add(key_path, "A header name may only hold letters, digits and !#$%&'*+.^_`|~-.")
                    elif key.lower() in FORBIDDEN_HEADERS:
                        self.add(key_path, f"A step cannot set the '{key}' header.")
                    if not isinstance(value, str):
                        self.add(key_path, "A header value must be a string.")
                    elif any(char in value for char in "\r\n\0"):
                        self.add(key_path, "A header value cannot contain CR, LF or NUL.")
        for key in ("query", "headers", "body"):
            if key in raw:
                self.template_strings(raw[key], f"{path}.{key}", scope)

    def retry(self, raw: Mapping[str, Any], path: str) -> RetryOverride | None:
        if "retry" not in raw:
            return None
        value = raw["retry"]
        path = f"{path}.retry"
        if not isinstance(value, dict):
            self.add(path, "'retry' must be an object with maxAttempts, intervalSeconds and/or backoffRate.")
            return None
        self.fields(value, path, _RETRY_FIELDS, ())
        attempts = interval = None
        rate: float | None = None
        if "maxAttempts" in value:
            attempts = self.int_in(value["maxAttempts"], f"{path}.maxAttempts", "maxAttempts", 1, MAX_RETRY_ATTEMPTS)
        if "intervalSeconds" in value:
            interval = self.int_in(
                value["intervalSeconds"], f"{path}.intervalSeconds", "intervalSeconds", 1, MAX_RETRY_INTERVAL
            )
        if "backoffRate" in value:
            candidate = value["backoffRate"]
            if not is_number(candidate) or not 1 <= candidate <= MAX_BACKOFF_RATE:
                self.add(f"{path}.backoffRate", f"'backoffRate' must be a number from 1 to {MAX_BACKOFF_RATE:g}.")
            else:
                rate = float(candidate)
        return RetryOverride(attempts, interval, rate)

    def step_request(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step:
        method = self.method(raw, path)
        api_path = self.string(raw, "path", path, max_chars=MAX_PATH_CHARS) or ""
        if api_path:
            template = self.template(api_path, f"{path}.path", scope)
            if template is not None:
                self.check_api_path(template, f"{path}.path")
        credential_id = raw.get("credentialId")
        if "credentialId" in raw:
            if not isinstance(credential_id, str) or not credential_id:
                self.add(f"{path}.credentialId", "'credentialId' must be a non-empty string.")
            else:
                self.template(credential_id, f"{path}.credentialId", scope)
        self.call_parts(raw, path, scope)
        return RequestStep(
            step_id,
            method,
            api_path,
            query=raw.get("query"),
            headers=raw.get("headers"),
            body=raw.get("body"),
            credential_id=credential_id,
            retry=self.retry(raw, path),
        )

    def check_api_path(self, template: templates.Template, path: str) -> None:
        literal_text = "".join(part for part in template.parts if isinstance(part, str))
        if any(char in literal_text for char in "?#"):
            self.add(path, "Put query parameters in 'query', not in 'path'.")
            return
        if template.is_literal:
            try:
                clean_segments(literal_text.lstrip("/").split("/"))
            except BadRequest as error:
                self.add(path, error.message)

    def step_http(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step:
        method = self.method(raw, path)
        url = self.string(raw, "url", path, max_chars=MAX_PATH_CHARS) or ""
        if url:
            template = self.template(url, f"{path}.url", scope)
            if template is not None:
                problem = _static_url_problem(template)
                if problem:
                    self.add(f"{path}.url", problem)
        self.call_parts(raw, path, scope)
        return HttpStep(
            step_id,
            method,
            url,
            query=raw.get("query"),
            headers=raw.get("headers"),
            body=raw.get("body"),
            retry=self.retry(raw, path),
        )

    def step_condition(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step | None:
        condition = self.condition(raw["if"], f"{path}.if", scope, 1) if "if" in raw else None
        branches: dict[str, tuple[Step, ...] | None] = {}
        for key in ("then", "else"):
            branch = raw.get(key, [])
            if not isinstance(branch, list):
                self.add(f"{path}.{key}", f"'{key}' must be a list of steps.")
                branches[key] = None
            else:
                branches[key] = self.nested(branch, f"{path}.{key}", scope, in_fan_out=scope.in_fan_out)
        then, else_ = branches["then"], branches["else"]
        if condition is None or then is None or else_ is None:
            return None
        return ConditionStep(step_id, condition, then, else_)

    def nested(self, raw_steps: list[Any], path: str, scope: _Scope, *, in_fan_out: bool) -> tuple[Step, ...] | None:
        if scope.depth + 1 > MAX_NESTING and raw_steps:
            self.add(path, f"Steps nest at most {MAX_NESTING} levels deep.")
            return None
        return self.steps(raw_steps, path, _Scope(scope.visible, in_fan_out, scope.depth + 1))

    def condition(self, raw: Any, path: str, scope: _Scope, depth: int) -> Condition | None:
        if not isinstance(raw, dict):
            self.add(path, "A condition must be an object: {left, op, right}, {all: [...]} or {any: [...]}.")
            return None
        if depth > MAX_CONDITION_DEPTH:
            self.add(path, f"Conditions nest at most {MAX_CONDITION_DEPTH} levels deep.")
            return None
        for key, kind in (("all", AllOf), ("any", AnyOf)):
            if key in raw:
                self.fields(raw, path, (key,), ())
                parts = raw[key]
                if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_CONDITION_PARTS:
                    self.add(f"{path}.{key}", f"'{key}' must be a list of 1 to {MAX_CONDITION_PARTS} conditions.")
                    return None
                built = [self.condition(part, f"{path}.{key}[{i}]", scope, depth + 1) for i, part in enumerate(parts)]
                if any(part is None for part in built):
                    return None
                return kind(tuple(part for part in built if part is not None))
        op = raw.get("op")
        unary = op in UNARY_OPS
        self.fields(raw, path, ("left", "op", "right"), ("left", "op"))
        if unary and "right" in raw:
            self.add(f"{path}.right", f"'right' is not used with '{op}'.")
        if "op" in raw and op not in COMPARISON_OPS:
            self.add(f"{path}.op", f"'op' must be one of: {', '.join(COMPARISON_OPS)}.")
            return None
        if op in COMPARISON_OPS and not unary and "right" not in raw:
            self.add(f"{path}.right", f"'right' is required with '{op}'.")
        for key in ("left", "right"):
            if key in raw:
                self.template_strings(raw[key], f"{path}.{key}", scope)
        if "left" not in raw or op not in COMPARISON_OPS:
            return None
        return Comparison(raw["left"], str(op), raw.get("right"))

    def step_fan_out(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step | None:
        over = raw.get("over")
        if "over" in raw:
            template = self.template(over, f"{path}.over", scope) if isinstance(over, str) else None
            if not isinstance(over, str) or (template is not None and not template.is_lone):
                self.add(
                    f"{path}.over", "'over' must be one template giving a list, e.g. '{{ steps.x.output.items }}'."
                )
        concurrency = DEFAULT_CONCURRENCY
        if "maxConcurrency" in raw:
            concurrency = (
                self.int_in(raw["maxConcurrency"], f"{path}.maxConcurrency", "maxConcurrency", 1, MAX_CONCURRENCY)
                or DEFAULT_CONCURRENCY
            )
        inner = raw.get("steps")
        body: tuple[Step, ...] | None = None
        if "steps" in raw:
            if not isinstance(inner, list) or not inner:
                self.add(f"{path}.steps", "'steps' must be a non-empty list.")
            else:
                body = self.nested(inner, f"{path}.steps", scope, in_fan_out=True)
        if body is None or not isinstance(over, str):
            return None
        return FanOutStep(step_id, over, body, concurrency)

    def step_delay(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step | None:
        limit = MAX_EXPRESS_DELAY_SECONDS if self.trigger_type == "request" else MAX_DELAY_SECONDS
        seconds = self.int_in(raw.get("seconds"), f"{path}.seconds", "seconds", 1, limit) if "seconds" in raw else None
        return DelayStep(step_id, seconds) if seconds is not None else None

    def step_response(self, raw: Mapping[str, Any], path: str, scope: _Scope, step_id: str) -> Step:
        if self.trigger_type is not None and self.trigger_type != "request":
            self.add(f"{path}.type", "A response step belongs only in a workflow with a 'request' trigger.")
        if scope.in_fan_out:
            self.add(f"{path}.type", "A response step cannot be inside a fan_out.")
        status = raw.get("status", 200)
        if isinstance(status, str):
            template = self.template(status, f"{path}.status", scope)
            if template is not None and not template.is_lone:
                self.add(f"{path}.status", "'status' must be a number from 100 to 599 or one template.")
        else:
            self.int_in(status, f"{path}.status", "status", 100, 599)
        self.template_strings(raw.get("body"), f"{path}.body", scope)
        return ResponseStep(step_id, status, raw.get("body"))


def _longest_wait(steps: tuple[Step, ...]) -> int:
    """The most delay seconds one run can meet: a condition counts its longer branch, a fan_out
    one iteration of its body."""
    total = 0
    for step in steps:
        if isinstance(step, DelayStep):
            total += step.seconds
        elif isinstance(step, ConditionStep):
            total += max(_longest_wait(step.then), _longest_wait(step.else_))
        elif isinstance(step, FanOutStep):
            total += _longest_wait(step.steps)
    return total


def _static_url_problem(template: templates.Template) -> str | None:
    """What is wrong with an http step's URL as far as can be told before run time."""
    prefix = template.literal_prefix()
    if template.is_literal:
        try:
            parts = urlsplit(prefix)
        except ValueError:
            return "'url' is not a valid URL."
        if parts.scheme != "https" or not parts.hostname:
            return "'url' must be an https:// URL with a host name."
        if "@" in parts.netloc:
            return "'url' cannot carry a user name or password."
        return None
    if ":" in prefix.split("/", 1)[0] and not prefix.lower().startswith("https://"):
        return "'url' must be an https:// URL."
    return None


def _is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
