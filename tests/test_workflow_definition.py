"""Workflow definitions: the model, and validation that reports every problem with its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.domain.workflows import conditions
from chalicelib.domain.workflows.model import (
    AllOf,
    AnyOf,
    Comparison,
    ConditionStep,
    FanOutStep,
    RequestStep,
    RetryOverride,
    Trigger,
)
from chalicelib.domain.workflows.validation import InvalidWorkflow, Problem, parse_workflow, validate_workflow
from tests.workflow_examples import PINNED_WORKFLOW

INTEGRATIONS = ["wordpress"]

PINNED = PINNED_WORKFLOW


def workflow(steps: list[Any], trigger: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {
        "name": "w",
        "integration": "wordpress",
        "trigger": {"type": "app_event", "event": "e"} if trigger is None else trigger,
        "steps": steps,
        **top,
    }


def problems(raw: Any) -> list[tuple[str, str]]:
    return [(problem.path, problem.message) for problem in validate_workflow(raw, integrations=INTEGRATIONS)]


def paths(raw: Any) -> list[str]:
    return [path for path, _ in problems(raw)]


def only_problem(raw: Any) -> tuple[str, str]:
    found = problems(raw)
    assert len(found) == 1, found
    return found[0]


def get(step_id: str, path: str = "v1.1/me") -> dict[str, Any]:
    return {"id": step_id, "type": "request", "method": "GET", "path": path}


# ---- the model -----------------------------------------------------------------------------


def test_the_pinned_example_parses_into_the_model() -> None:
    definition = parse_workflow(PINNED, integrations=INTEGRATIONS)
    assert definition.name == "Post new articles"
    assert definition.trigger == Trigger("app_event", event="article.published")
    assert not definition.default_enabled
    assert not definition.answers_requests
    post = definition.step("post")
    assert isinstance(post, RequestStep)
    assert post.method == "POST"
    assert post.body == {"title": "{{ trigger.payload.title }}", "content": "{{ trigger.payload.body }}"}
    assert [step.id for step in definition.steps] == ["sites", "post"]


def test_to_dict_round_trips_every_step_type() -> None:
    raw = workflow(
        [
            {
                "id": "a",
                "type": "request",
                "method": "PATCH",
                "path": "/wp/v2/posts",
                "query": {"per_page": 5, "q": "{{ trigger.payload.q }}", "x": True},
                "headers": {"X-Thing": "{{ user.id }}"},
                "body": [1, {"k": "{{ settings.k }}"}],
                "credentialId": "{{ user.metadata.cred }}",
                "retry": {"maxAttempts": 2, "intervalSeconds": 3, "backoffRate": 1.5},
            },
            {"id": "b", "type": "http", "method": "POST", "url": "https://example.com/hook", "body": {"a": 1}},
            {
                "id": "c",
                "type": "condition",
                "if": {
                    "all": [
                        {"left": "{{ steps.a.status }}", "op": "equals", "right": 200},
                        {
                            "any": [
                                {"left": "{{ steps.b.output }}", "op": "exists"},
                                {"left": "{{ steps.a.output.tags }}", "op": "contains", "right": "x"},
                            ]
                        },
                    ]
                },
                "then": [get("d")],
                "else": [{"id": "e", "type": "delay", "seconds": 5}],
            },
            {"id": "f", "type": "fan_out", "over": "{{ steps.a.output }}", "maxConcurrency": 3, "steps": [get("g")]},
            {"id": "h", "type": "response", "status": 201, "body": {"ids": "{{ steps.f.output[*].g.output.ID }}"}},
        ],
        trigger={"type": "request"},
        defaultEnabled=True,
    )
    definition = parse_workflow(raw, integrations=INTEGRATIONS)
    assert definition.answers_requests
    assert definition.default_enabled
    condition = definition.step("c")
    assert isinstance(condition, ConditionStep)
    assert isinstance(condition.condition, AllOf)
    assert isinstance(condition.condition.conditions[1], AnyOf)
    assert condition.condition.conditions[0] == Comparison("{{ steps.a.status }}", "equals", 200)
    fan_out = definition.step("f")
    assert isinstance(fan_out, FanOutStep)
    assert fan_out.max_concurrency == 3
    assert definition.step("g") is fan_out.steps[0]
    request = definition.step("a")
    assert isinstance(request, RequestStep)
    assert request.retry == RetryOverride(2, 3, 1.5)
    assert parse_workflow(definition.to_dict(), integrations=INTEGRATIONS) == definition


def test_defaults() -> None:
    raw = workflow(
        [
            {"id": "a", "type": "request", "path": "v1.1/me"},
            {"id": "f", "type": "fan_out", "over": "{{ steps.a.output }}", "steps": [get("g")]},
        ]
    )
    definition = parse_workflow(raw, integrations=INTEGRATIONS)
    request, fan_out = definition.steps
    assert isinstance(request, RequestStep)
    assert request.method == "GET"
    assert isinstance(fan_out, FanOutStep)
    assert fan_out.max_concurrency == 10
    assert definition.default_enabled is False


@pytest.mark.parametrize(
    "trigger",
    [
        {"type": "app_event", "event": "article.published"},
        {"type": "request"},
        {"type": "webhook"},
        {"type": "webhook", "userIdPath": "data.user.id"},
        {"type": "schedule", "cron": "*/15 9-17 * * MON-FRI", "timezone": "Europe/Paris"},
        {"type": "schedule", "cron": "0 0 1 * *", "timezone": "UTC"},
        {"type": "integration_enabled"},
    ],
)
def test_every_trigger_type(trigger: dict[str, Any]) -> None:
    definition = parse_workflow(workflow([get("a")], trigger=trigger), integrations=INTEGRATIONS)
    assert definition.trigger.to_dict() == trigger


# ---- problems, each with its path ----------------------------------------------------------


def test_five_different_problems_are_all_reported_at_once() -> None:
    raw = copy.deepcopy(PINNED)
    raw["integration"] = "salesforce"  # 1: the project lacks it
    raw["steps"][0]["type"] = "requests"  # 2: unknown step type
    raw["steps"][1]["id"] = "sites"  # 3: duplicate id
    raw["steps"][1]["bodyy"] = {}  # 4: unknown field
    raw["steps"][1]["body"]["title"] = "{{ trigger.payload.[ }}"  # 5: bad JMESPath
    found = validate_workflow(raw, integrations=INTEGRATIONS)
    assert sorted(problem.path for problem in found) == [
        "$.integration",
        "$.steps[0].type",
        "$.steps[1].body.title",
        "$.steps[1].bodyy",
        "$.steps[1].id",
    ]
    with pytest.raises(InvalidWorkflow) as caught:
        parse_workflow(raw, integrations=INTEGRATIONS)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_workflow"
    assert caught.value.problems == found
    assert "5 problems" in caught.value.message
    assert all(isinstance(problem, Problem) and problem.message for problem in found)


def test_a_definition_must_be_an_object_with_its_fields() -> None:
    assert paths([]) == ["$"]
    assert paths({}) == ["$.integration", "$.name", "$.steps", "$.trigger"]
    assert paths(workflow([get("a")], extra=1)) == ["$.extra"]
    assert paths(workflow([])) == ["$.steps"]
    assert paths(workflow([get("a")], name="")) == ["$.name"]
    assert paths(workflow([get("a")], name=5)) == ["$.name"]
    assert paths(workflow([get("a")], defaultEnabled="yes")) == ["$.defaultEnabled"]


def test_an_integration_the_project_lacks() -> None:
    path, message = only_problem(workflow([get("a")], integration="slack"))
    assert path == "$.integration"
    assert "slack" in message
    assert validate_workflow(workflow([get("a")], integration="slack"), integrations=["wordpress", "slack"]) == []


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"type": "cron"}, "$.trigger.type"),
        ({}, "$.trigger.type"),
        ({"type": "app_event"}, "$.trigger.event"),
        ({"type": "app_event", "event": ""}, "$.trigger.event"),
        ({"type": "request", "event": "x"}, "$.trigger.event"),
        ({"type": "webhook", "userIdPath": "a.["}, "$.trigger.userIdPath"),
        ({"type": "schedule", "cron": "* * * *", "timezone": "UTC"}, "$.trigger.cron"),
        ({"type": "schedule", "cron": "* * * * * *", "timezone": "UTC"}, "$.trigger.cron"),
        ({"type": "schedule", "cron": "* * * * ;", "timezone": "UTC"}, "$.trigger.cron"),
        ({"type": "schedule", "cron": "* * * * *", "timezone": "Mars/Olympus"}, "$.trigger.timezone"),
        ({"type": "schedule", "cron": "* * * * *", "timezone": "../../etc/passwd"}, "$.trigger.timezone"),
        ({"type": "schedule", "cron": "* * * * *"}, "$.trigger.timezone"),
        ({"type": "integration_enabled", "when": "now"}, "$.trigger.when"),
    ],
)
def test_bad_triggers(trigger: dict[str, Any], path: str) -> None:
    assert paths(workflow([get("a")], trigger=trigger)) == [path]


def test_a_trigger_that_is_not_an_object() -> None:
    assert paths({"name": "w", "integration": "wordpress", "trigger": "app_event", "steps": [get("a")]}) == [
        "$.trigger"
    ]


@pytest.mark.parametrize("step_id", ["1a", "a.b", "a b", "x" * 65, "", "a$", "é", 7, None])
def test_step_ids_follow_a_safe_pattern(step_id: Any) -> None:
    step = get("a")
    step["id"] = step_id
    assert paths(workflow([step])) == ["$.steps[0].id"]


@pytest.mark.parametrize("step_id", ["a", "A-b_c9", "x" * 64])
def test_good_step_ids(step_id: str) -> None:
    assert problems(workflow([get(step_id)])) == []


def test_unknown_step_types_and_fields() -> None:
    raw = workflow(
        [
            {"id": "a", "type": "loop"},
            {"id": "b"},
            {**get("c"), "url": "https://x"},
            {"id": "d", "type": "delay", "seconds": 1, "retry": {}},
            "not a step",
        ]
    )
    assert problems(raw) == [
        ("$.steps[0].type", "Unknown step type 'loop'; one of: request, http, condition, fan_out, delay, response."),
        ("$.steps[1].type", "Unknown step type null; one of: request, http, condition, fan_out, delay, response."),
        ("$.steps[2].url", "Unknown field 'url'."),
        ("$.steps[3].retry", "Unknown field 'retry'."),
        ("$.steps[4]", "A step must be an object, not a string."),
    ]


def test_missing_required_step_fields() -> None:
    raw = workflow(
        [
            {"id": "a", "type": "request"},
            {"id": "b", "type": "http"},
            {"id": "c", "type": "condition"},
            {"id": "d", "type": "fan_out"},
            {"id": "e", "type": "delay"},
            {"type": "request", "path": "v1.1/me"},
        ]
    )
    assert paths(raw) == [
        "$.steps[0].path",
        "$.steps[1].url",
        "$.steps[2].if",
        "$.steps[2].then",
        "$.steps[3].over",
        "$.steps[3].steps",
        "$.steps[4].seconds",
        "$.steps[5].id",
    ]


def test_duplicate_ids_across_nesting() -> None:
    raw = workflow(
        [
            get("a"),
            {"id": "c", "type": "condition", "if": {"left": 1, "op": "exists"}, "then": [get("a")], "else": [get("c")]},
            {"id": "f", "type": "fan_out", "over": "{{ steps.a.output }}", "steps": [get("a")]},
        ]
    )
    assert problems(raw) == [
        ("$.steps[1].then[0].id", "Step id 'a' is used twice (first at $.steps[0].id)."),
        ("$.steps[1].else[0].id", "Step id 'c' is used twice (first at $.steps[1].id)."),
        ("$.steps[2].steps[0].id", "Step id 'a' is used twice (first at $.steps[0].id)."),
    ]


# ---- which steps a template may read ------------------------------------------------------


def cond(then: list[Any], else_: list[Any] | None = None, step_id: str = "c", left: Any = 1) -> dict[str, Any]:
    return {"id": step_id, "type": "condition", "if": {"left": left, "op": "exists"}, "then": then, "else": else_ or []}


def fan(steps: list[Any], step_id: str = "f", over: str = "{{ steps.a.output }}") -> dict[str, Any]:
    return {"id": step_id, "type": "fan_out", "over": over, "steps": steps}


def test_a_step_may_read_earlier_steps_only() -> None:
    assert problems(workflow([get("a"), get("b", "v1.1/{{ steps.a.output.x }}")])) == []
    path, message = only_problem(workflow([get("a", "v1.1/{{ steps.b.output.x }}"), get("b")]))
    assert path == "$.steps[0].path"
    assert "cannot have run before" in message
    # A step cannot read itself.
    assert paths(workflow([get("a", "v1.1/{{ steps.a.status }}")])) == ["$.steps[0].path"]


def test_branch_steps_are_visible_later_in_their_branch_only() -> None:
    fine = workflow([get("a"), cond([get("b"), get("b2", "{{ steps.b.output }}/{{ steps.a.output }}")])])
    assert problems(fine) == []
    after = workflow([get("a"), cond([get("b")]), get("z", "{{ steps.b.output }}")])
    assert paths(after) == ["$.steps[2].path"]
    across = workflow([get("a"), cond([get("b")], [get("e", "{{ steps.b.status }}")])])
    assert paths(across) == ["$.steps[1].else[0].path"]
    in_if = workflow([get("a"), cond([get("b")], left="{{ steps.b.status }}")])
    assert paths(in_if) == ["$.steps[1].if.left"]


def test_fan_out_inner_steps_are_visible_inside_only_and_the_fan_out_after() -> None:
    fine = workflow(
        [
            get("a"),
            fan([get("g", "{{ steps.a.output }}/{{ item.ID }}/{{ index }}"), get("h", "{{ steps.g.output }}")]),
            get("z", "{{ steps.f.output[0].g.output }}"),
        ]
    )
    assert problems(fine) == []
    assert paths(workflow([get("a"), fan([get("g")]), get("z", "{{ steps.g.output }}")])) == ["$.steps[2].path"]
    assert paths(workflow([get("a"), fan([get("g")], over="{{ steps.g.output }}")])) == ["$.steps[1].over"]
    assert paths(workflow([get("a"), fan([get("g", "{{ steps.f.output }}")])])) == ["$.steps[1].steps[0].path"]


def test_item_and_index_exist_only_inside_a_fan_out() -> None:
    assert problems(workflow([get("a", "{{ item.ID }}/{{ index }}")])) == [
        ("$.steps[0].path", "'item' exists only inside a fan_out step's steps."),
        ("$.steps[0].path", "'index' exists only inside a fan_out step's steps."),
    ]


def test_steps_without_output_and_unknown_steps_and_names() -> None:
    raw = workflow(
        [
            get("a"),
            cond([get("b")]),
            {"id": "d", "type": "delay", "seconds": 1},
            get("x", "{{ steps.c.output }}/{{ steps.d }}/{{ steps.nope.output }}"),
            get("y", "{{ step.a.output }}"),
            get("z", "{{ steps.* }}"),
        ]
    )
    assert problems(raw) == [
        ("$.steps[3].path", "Step 'c' is a condition step, which has no output."),
        ("$.steps[3].path", "Step 'd' is a delay step, which has no output."),
        ("$.steps[3].path", "A template reads step 'nope', but there is no step with that id."),
        (
            "$.steps[4].path",
            "A template reads 'step', which does not exist; a template starts with one of: "
            "index, item, settings, steps, trigger, user.",
        ),
        ("$.steps[5].path", "Read a step's result as 'steps.<id>.output' or 'steps.<id>.status'."),
    ]


def test_a_step_with_other_problems_still_counts_as_run() -> None:
    # Only the bad method is reported; 'b' reading 'a' is fine.
    raw = workflow([{**get("a"), "method": "FETCH"}, get("b", "{{ steps.a.output }}")])
    assert paths(raw) == ["$.steps[0].method"]


def test_templates_everywhere_are_checked() -> None:
    raw = workflow(
        [
            {
                "id": "a",
                "type": "request",
                "path": "v1.1/me",
                "query": {"q": "{{ nope }}"},
                "headers": {"X-A": "{{ steps.zz.output }}"},
                "body": {"list": [1, {"deep": "{{ trigger.[ }}"}]},
                "credentialId": "{{ item }}",
            },
            {"id": "b", "type": "http", "url": "https://x.example/{{ steps.b.output }}"},
        ]
    )
    assert paths(raw) == [
        "$.steps[0].credentialId",
        "$.steps[0].query.q",
        '$.steps[0].headers["X-A"]',
        "$.steps[0].body.list[1].deep",
        "$.steps[1].url",
    ]


# ---- step fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/hook", True),
        ("https://{{ settings.host }}/hook", True),
        ("{{ settings.url }}", True),
        ("https://example.com/{{ trigger.payload.id }}", True),
        ("http://example.com/hook", False),
        ("http://{{ settings.host }}/hook", False),
        ("ftp://example.com", False),
        ("https:///nohost", False),
        ("https://user:pw@example.com/", False),
        ("example.com/hook", False),
        ("file:///etc/passwd", False),
    ],
)
def test_http_urls_are_https_only(url: str, ok: bool) -> None:
    raw = workflow([{"id": "h", "type": "http", "url": url}])
    assert paths(raw) == ([] if ok else ["$.steps[0].url"])


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("v1.1/me/sites", True),
        ("/wp/v2/posts", True),
        ("v1.1/sites/{{ steps.a.output.ID }}/posts", True),
        ("v1.1/../../admin", False),
        ("v1.1//evil.example", False),
        ("v1.1/me?x=1", False),
        ("v1.1/{{ steps.a.output }}?x=1", False),
        ("v1.1/me@evil", False),
        ("v1.1/%2e%2e/x", False),
    ],
)
def test_request_paths_follow_the_proxy_rules_when_literal(path: str, ok: bool) -> None:
    raw = workflow([get("a"), get("b", path)])
    assert paths(raw) == ([] if ok else ["$.steps[1].path"])


def test_headers_and_query() -> None:
    raw = workflow(
        [
            {
                **get("a"),
                "headers": {"Authorization": "Bearer x", "Bad Name": "v", "X-Ok": 5, "X-Crlf": "a\r\nB: c"},
                "query": {"ok": 1, "bad": {"x": 1}, "list": [1]},
            },
            {**get("b"), "headers": "X: y", "query": [1]},
        ]
    )
    assert problems(raw) == [
        ("$.steps[0].query.bad", "A query value must be a string, number or boolean."),
        ("$.steps[0].query.list", "A query value must be a string, number or boolean."),
        ("$.steps[0].headers.Authorization", "A step cannot set the 'Authorization' header."),
        ('$.steps[0].headers["Bad Name"]', "A header name may only hold letters, digits and !#$%&'*+.^_`|~-."),
        ('$.steps[0].headers["X-Ok"]', "A header value must be a string."),
        ('$.steps[0].headers["X-Crlf"]', "A header value cannot contain CR, LF or NUL."),
        ("$.steps[1].query", "'query' must be an object of names to values."),
        ("$.steps[1].headers", "'headers' must be an object of names to strings."),
    ]


@pytest.mark.parametrize(
    ("retry", "path"),
    [
        ({"maxAttempts": 0}, "$.steps[0].retry.maxAttempts"),
        ({"maxAttempts": 11}, "$.steps[0].retry.maxAttempts"),
        ({"maxAttempts": 2.5}, "$.steps[0].retry.maxAttempts"),
        ({"maxAttempts": True}, "$.steps[0].retry.maxAttempts"),
        ({"intervalSeconds": 0}, "$.steps[0].retry.intervalSeconds"),
        ({"backoffRate": 0.5}, "$.steps[0].retry.backoffRate"),
        ({"backoffRate": "2"}, "$.steps[0].retry.backoffRate"),
        ({"jitter": "none"}, "$.steps[0].retry.jitter"),
        ("5", "$.steps[0].retry"),
    ],
)
def test_bad_retry_overrides(retry: Any, path: str) -> None:
    assert paths(workflow([{**get("a"), "retry": retry}])) == [path]


def test_conditions() -> None:
    def with_if(condition: Any) -> list[str]:
        return paths(workflow([get("a"), {"id": "c", "type": "condition", "if": condition, "then": []}]))

    assert with_if({"left": "{{ steps.a.status }}", "op": "gte", "right": 200}) == []
    assert with_if({"left": "{{ steps.a.output }}", "op": "not_exists"}) == []
    assert with_if({"left": 1, "op": "equals"}) == ["$.steps[1].if.right"]
    assert with_if({"left": 1, "op": "exists", "right": 2}) == ["$.steps[1].if.right"]
    assert with_if({"left": 1, "op": "like", "right": 2}) == ["$.steps[1].if.op"]
    assert with_if({"op": "exists"}) == ["$.steps[1].if.left"]
    assert with_if({"all": []}) == ["$.steps[1].if.all"]
    assert with_if({"any": [{"left": 1, "op": "exists"}, {"left": 1}]}) == ["$.steps[1].if.any[1].op"]
    assert with_if({"all": [{"left": 1, "op": "exists"}], "any": []}) == ["$.steps[1].if.any"]
    assert with_if("true") == ["$.steps[1].if"]
    deep: Any = {"left": 1, "op": "exists"}
    for _ in range(5):
        deep = {"all": [deep]}
    assert with_if(deep) == ["$.steps[1].if" + ".all[0]" * 5]
    branches = workflow([{"id": "c", "type": "condition", "if": {"left": 1, "op": "exists"}, "then": {}, "else": 1}])
    assert paths(branches) == ["$.steps[0].then", "$.steps[0].else"]


def test_fan_out_fields() -> None:
    assert paths(workflow([get("a"), fan([get("g")], over="x {{ steps.a.output }}")])) == ["$.steps[1].over"]
    assert paths(workflow([get("a"), fan([get("g")], over=["literal"])])) == ["$.steps[1].over"]  # type: ignore[arg-type]
    assert paths(workflow([get("a"), {**fan([get("g")]), "maxConcurrency": 0}])) == ["$.steps[1].maxConcurrency"]
    assert paths(workflow([get("a"), {**fan([get("g")]), "maxConcurrency": 41}])) == ["$.steps[1].maxConcurrency"]
    assert paths(workflow([get("a"), fan([])])) == ["$.steps[1].steps"]


def test_delays() -> None:
    def delay(seconds: Any, trigger: dict[str, Any] | None = None) -> list[str]:
        return paths(workflow([{"id": "d", "type": "delay", "seconds": seconds}], trigger=trigger))

    assert delay(1) == []
    assert delay(86400 * 30) == []
    assert delay(0) == ["$.steps[0].seconds"]
    assert delay(1.5) == ["$.steps[0].seconds"]
    assert delay("{{ trigger.payload.s }}") == ["$.steps[0].seconds"]
    # An Express execution lasts at most five minutes.
    assert delay(300, {"type": "request"}) == []
    assert delay(301, {"type": "request"}) == ["$.steps[0].seconds"]


def test_delays_on_one_path_of_a_request_workflow_add_up_to_at_most_five_minutes() -> None:
    def wait(step_id: str, seconds: int) -> dict[str, Any]:
        return {"id": step_id, "type": "delay", "seconds": seconds}

    request = {"type": "request"}
    # Exclusive branches count once (the longer one).
    branches = [cond([wait("a", 200)], [wait("b", 250)]), wait("z", 50)]
    assert paths(workflow(branches, trigger=request)) == []
    too_long = [cond([wait("a", 200)], [wait("b", 250)]), wait("z", 51)]
    path, message = only_problem(workflow(too_long, trigger=request))
    assert path == "$.steps"
    assert "301 s" in message
    in_fan_out = [get("g"), fan([wait("a", 200)], over="{{ steps.g.output }}"), wait("z", 101)]
    assert paths(workflow(in_fan_out, trigger=request)) == ["$.steps"]
    # Standard workflows may wait much longer.
    assert paths(workflow(too_long)) == []


def test_response_steps_belong_to_request_workflows_only() -> None:
    response = {"id": "r", "type": "response", "status": 201, "body": {"ok": True}}
    assert paths(workflow([response], trigger={"type": "request"})) == []
    path, message = only_problem(workflow([response]))
    assert path == "$.steps[0].type"
    assert "'request' trigger" in message
    inside = workflow([get("a"), fan([response])], trigger={"type": "request"})
    assert paths(inside) == ["$.steps[1].steps[0].type"]
    for status, ok in ((99, False), (600, False), ("{{ steps.a.status }}", True), ("x{{ steps.a.status }}", False)):
        raw = workflow([get("a"), {**response, "status": status}], trigger={"type": "request"})
        assert paths(raw) == ([] if ok else ["$.steps[1].status"]), status


def test_limits_on_size_and_nesting() -> None:
    assert paths(workflow([get(f"s{i}") for i in range(101)])) == ["$.steps"]
    nested: list[Any] = [get("leaf")]
    for level in range(6):
        nested = [cond(nested, step_id=f"c{level}")]
    assert paths(workflow(nested)) == []  # the leaf is six levels deep
    nested = [cond(nested, step_id="c6")]
    assert paths(workflow(nested)) == ["$.steps[0]" + ".then[0]" * 6 + ".then"]


# ---- condition semantics (what the runner evaluates; native Choice rules must agree) -------


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (1, "equals", 1.0, True),
        (1, "equals", True, False),
        ("1", "equals", 1, False),
        (None, "equals", None, True),
        ([1, {"a": "x"}], "equals", [1, {"a": "x"}], True),
        ([1], "equals", [True], False),
        ("a", "not_equals", "b", True),
        (5, "gt", 4, True),
        (5, "gte", 5, True),
        ("b", "gt", "a", True),
        ("5", "gt", 4, False),
        (True, "gt", 0, False),
        (None, "lt", 1, False),
        (3, "lte", 2.5, False),
        ("hello world", "contains", "lo w", True),
        (["a", 1], "contains", 1, True),
        (["a", 1], "contains", True, False),
        ({"a": 1}, "contains", "a", False),
        (0, "exists", None, True),
        (None, "exists", None, False),
        (None, "not_exists", None, True),
        ("", "not_exists", None, False),
    ],
)
def test_comparison_semantics(left: Any, op: str, right: Any, expected: bool) -> None:
    assert conditions.compare(left, op, right) is expected


def test_evaluate_resolves_templates_and_combines() -> None:
    context = {"steps": {"a": {"status": 200, "output": {"tags": ["x"]}}}, "trigger": {}}
    ok = Comparison("{{ steps.a.status }}", "equals", 200)
    tagged = Comparison("{{ steps.a.output.tags }}", "contains", "x")
    missing = Comparison("{{ steps.a.output.nothing }}", "exists")
    assert conditions.evaluate(AllOf((ok, tagged)), context)
    assert not conditions.evaluate(AllOf((ok, missing)), context)
    assert conditions.evaluate(AnyOf((missing, tagged)), context)
    assert not conditions.evaluate(AnyOf((missing,)), context)
