"""`{{ }}` templates: parsing, type preservation, interpolation and the references they make."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.workflows import templates
from chalicelib.domain.workflows.templates import RootAccess, TemplateError

CONTEXT: dict[str, Any] = {
    "trigger": {"event": "article.published", "payload": {"title": "Hello", "tags": ["a", "b"], "n": 3}},
    "steps": {
        "sites": {
            "output": {"sites": [{"ID": 9001, "name": "Blog"}, {"ID": 9002, "name": "{{ not me }}"}]},
            "status": 200,
        },
        "my-step": {"output": {"ok": True}, "status": 201},
    },
    "user": {"id": "u-1", "metadata": {"plan": None}},
    "settings": {"limit": 2.5},
}


def render(text: str, context: dict[str, Any] | None = None) -> Any:
    return templates.parse(text).render(CONTEXT if context is None else context)


def test_a_lone_template_keeps_the_json_type() -> None:
    assert render("{{ steps.sites.output.sites[0].ID }}") == 9001
    assert render("{{ trigger.payload.tags }}") == ["a", "b"]
    assert render('{{ steps."my-step".output.ok }}') is True
    assert render("{{ steps.sites.output.sites[0] }}") == {"ID": 9001, "name": "Blog"}
    assert render("{{ settings.limit }}") == 2.5


def test_whitespace_inside_the_braces_does_not_matter() -> None:
    assert render("{{steps.sites.status}}") == 200
    assert render("{{   steps.sites.status\n }}") == 200


def test_text_around_a_template_makes_it_a_string() -> None:
    # Surrounding whitespace counts as text: the result is a string, not the number.
    assert render(" {{ steps.sites.status }}") == " 200"
    assert render("v1.1/sites/{{ steps.sites.output.sites[0].ID }}/posts/new") == "v1.1/sites/9001/posts/new"


def test_interpolation_encodes_non_strings_as_json_and_null_as_empty() -> None:
    assert render("tags={{ trigger.payload.tags }}") == 'tags=["a","b"]'
    assert render('ok={{ steps."my-step".output.ok }}') == "ok=true"
    assert render("plan=[{{ user.metadata.plan }}]") == "plan=[]"
    assert render("{{ trigger.payload.title }} #{{ trigger.payload.n }}") == "Hello #3"
    assert render("{{ steps.sites.output.sites[0] }}!") == '{"ID":9001,"name":"Blog"}!'


def test_a_missing_path_is_null() -> None:
    assert render("{{ steps.sites.output.nothing.here }}") is None
    assert render("{{ trigger.payload.missing }}") is None
    assert render("x{{ trigger.payload.missing }}y") == "xy"


def test_braces_inside_jmespath_strings_and_hashes_do_not_end_the_template() -> None:
    assert render("{{ 'a}}b' }}") == "a}}b"
    assert render('{{ `{"k": {"n": 1}}` }}') == {"k": {"n": 1}}
    assert render("{{ {id: steps.sites.output.sites[0].ID, s: {n: trigger.payload.n}} }}") == {
        "id": 9001,
        "s": {"n": 3},
    }
    assert render("{{ join(',', ['}}', 'x']) }}") == "}},x"


def test_template_text_in_a_value_is_not_evaluated_again() -> None:
    # The resolved value contains "{{ not me }}"; it is data, not a second template.
    assert render("{{ steps.sites.output.sites[1].name }}") == "{{ not me }}"


def test_escaped_and_partial_braces_are_literal_text() -> None:
    assert render("\\{{ not a template }}") == "{{ not a template }}"
    assert render("a } b }} c { d") == "a } b }} c { d"
    assert templates.parse("no templates").is_literal
    assert render("{ {x} }") == "{ {x} }"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{ steps.sites", "never closed"),
        ("{{ }}", "empty"),
        ("{{ steps.[ }}", "not valid JMESPath"),
        ("x {{ 'unterminated }}", "never closed"),
        ("{{ a..b }}", "not valid JMESPath"),
    ],
)
def test_bad_templates_are_template_errors(text: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        templates.parse(text)
    assert fragment in caught.value.message
    assert caught.value.code == "invalid_template"


def test_an_expression_that_fails_at_run_time_is_a_template_error() -> None:
    template = templates.parse("{{ length(trigger.payload.n) }}")
    with pytest.raises(TemplateError, match="failed"):
        template.render(CONTEXT)


def test_resolve_walks_dicts_and_lists_but_not_keys() -> None:
    value = {
        "title": "{{ trigger.payload.title }}",
        "{{ trigger.payload.title }}": "key stays literal",
        "list": ["{{ trigger.payload.n }}", 1, None, {"deep": "{{ user.id }}"}],
        "n": 5,
    }
    assert templates.resolve(value, CONTEXT) == {
        "title": "Hello",
        "{{ trigger.payload.title }}": "key stays literal",
        "list": [3, 1, None, {"deep": "u-1"}],
        "n": 5,
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("steps.sites.output.sites[0].ID", [RootAccess("steps", "sites")]),
        ("steps.sites", [RootAccess("steps", "sites")]),
        ('steps."my-step".output', [RootAccess("steps", "my-step")]),
        ("steps.a.output[?id == steps.b]", [RootAccess("steps", "a")]),  # inside the filter: the element
        ("length(steps.a.output) > `1` && trigger.x", [RootAccess("steps", "a"), RootAccess("trigger", "x")]),
        ("steps.*", [RootAccess("steps")]),
        ("steps[0]", [RootAccess("steps")]),
        ("{x: steps.a.output, y: item}", [RootAccess("steps", "a"), RootAccess("item")]),
        ("steps.a.output | steps", [RootAccess("steps", "a")]),  # right of a pipe: the left's value
        ("sort_by(steps.a.output, &index)", [RootAccess("steps", "a")]),
        ("@", []),
        ("`[1, 2]`", []),
        ("step.a", [RootAccess("step", "a")]),
        ("steps.a.output[*].steps.b", [RootAccess("steps", "a")]),
    ],
)
def test_root_accesses(expression: str, expected: list[RootAccess]) -> None:
    assert templates.root_accesses(templates.compile_expression(expression)) == expected


def test_step_references() -> None:
    template = templates.parse("{{ steps.a.output.x }}/{{ steps.b.status }}/{{ trigger.payload }}")
    refs = [ref for expression in template.expressions for ref in templates.step_references(expression)]
    assert refs == ["a", "b"]


def test_template_context_merges_inherited_steps_and_keeps_item() -> None:
    state = {
        "trigger": {"payload": {}},
        "steps": {"inner": {"output": 1, "status": 200}},
        "outerSteps": {"sites": {"output": 2, "status": 200}},
        "item": {"ID": 1},
        "index": 0,
        "run": {"id": "r"},
    }
    context = templates.template_context(state)
    assert context["steps"] == {"inner": {"output": 1, "status": 200}, "sites": {"output": 2, "status": 200}}
    assert context["item"] == {"ID": 1}
    assert context["index"] == 0
    assert "run" not in context
    assert "item" not in templates.template_context({"steps": {}})
