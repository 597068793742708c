"""`{{ expr }}` templates in workflow step fields.

`expr` is JMESPath over the template context (see `template_context`):
`{trigger, steps, user, settings, item, index}`.

Rules (the runner and the validator share them):
- A string that is exactly one template, with nothing around it (`"{{ steps.a.output }}"`),
  resolves to the expression's value with its JSON type (a number stays a number, a list a list).
- A template inside other text is interpolated: strings as they are, `null` as the empty string,
  anything else (number, boolean, list, object) as compact JSON.
- A path that does not exist resolves to `null` (JMESPath's rule), never an error.
- The template ends at the first `}}` outside a JMESPath string/literal and outside `{...}`
  braces, so `{{ {a: b} }}` and `{{ 'x}}y' }}` work.
- `\\{{` is a literal `{{` (the backslash is dropped); a lone `}}` or `{` is ordinary text; a `{{`
  that never closes is an error.
- Dicts and lists resolve recursively; dict keys are literal text, never templates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from chalicelib.domain.errors import TetherError

OPEN = "{{"
CLOSE = "}}"
ESCAPED_OPEN = "\\{{"
MAX_EXPRESSION_CHARS = 1000
# Names a template may start with; everything else at the root is a typo.
ROOT_NAMES = frozenset({"trigger", "steps", "user", "settings", "item", "index"})


class TemplateError(TetherError):
    """A template cannot be parsed or evaluated (a permanent step failure at run time)."""

    status = 400
    code = "invalid_template"


@dataclass(frozen=True)
class Expression:
    """One `{{ ... }}`: its source text and compiled JMESPath."""

    source: str
    parsed: ParsedResult

    def search(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against the context; missing paths give None."""
        try:
            return self.parsed.search(context)
        except jmespath_errors.JMESPathError as error:
            raise TemplateError(f"Template '{{{{ {self.source} }}}}' failed: {error}") from None


@dataclass(frozen=True)
class Template:
    """A parsed string: literal text parts and expressions, in order."""

    parts: tuple[str | Expression, ...]

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The expressions, in order."""
        return tuple(part for part in self.parts if isinstance(part, Expression))

    @property
    def is_lone(self) -> bool:
        """True when the string is exactly one template (its value keeps its JSON type)."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Expression)

    @property
    def is_literal(self) -> bool:
        """True when the string holds no template at all."""
        return not self.expressions

    def literal_prefix(self) -> str:
        """The text before the first template (the whole text when there is none)."""
        prefix = []
        for part in self.parts:
            if isinstance(part, Expression):
                break
            prefix.append(part)
        return "".join(prefix)

    def render(self, context: Mapping[str, Any]) -> Any:
        """The string's value in the context (see the module docstring for the rules)."""
        if self.is_lone:
            return self.expressions[0].search(context)
        return "".join(part if isinstance(part, str) else _as_text(part.search(context)) for part in self.parts)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _expression_end(text: str, start: int) -> int:
    """Index of the `}}` that closes the expression starting at `start`, or -1.

    Skips JMESPath raw strings ('...'), quoted identifiers ("...") and JSON literals (`...`),
    each with backslash escapes, and counts `{`/`}` so multi-select hashes may nest."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in "'\"`":
            i += 1
            while i < len(text) and text[i] != char:
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith(CLOSE, i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return -1


def compile_expression(source: str) -> Expression:
    """Compile one JMESPath expression, or raise TemplateError saying what is wrong."""
    stripped = source.strip()
    if not stripped:
        raise TemplateError("A template is empty: put a JMESPath expression between '{{' and '}}'.")
    if len(stripped) > MAX_EXPRESSION_CHARS:
        raise TemplateError(f"A template is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        return Expression(stripped, jmespath.compile(stripped))
    except jmespath_errors.JMESPathError as error:
        message = str(error).replace("\n", " ")
        raise TemplateError(f"Template '{{{{ {stripped[:100]} }}}}' is not valid JMESPath: {message}") from None


def parse(text: str) -> Template:
    """Split a string into literal text and compiled expressions."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(ESCAPED_OPEN, i):
            literal.append(OPEN)
            i += len(ESCAPED_OPEN)
            continue
        if text.startswith(OPEN, i):
            end = _expression_end(text, i + len(OPEN))
            if end < 0:
                raise TemplateError("A template '{{' is never closed with '}}' (write '\\{{' for a literal '{{').")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(compile_expression(text[i + len(OPEN) : end]))
            i = end + len(CLOSE)
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def has_template(text: str) -> bool:
    """Cheap test: could this string hold a template?"""
    return OPEN in text


def resolve(value: Any, context: Mapping[str, Any]) -> Any:
    """Resolve every template in a JSON value (strings, recursively through dicts and lists)."""
    if isinstance(value, str):
        return parse(value).render(context) if has_template(value) else value
    if isinstance(value, Mapping):
        return {key: resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context) for item in value]
    return value


def iter_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value with its JSON path (dict keys are not included)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, child_path(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


def child_path(path: str, key: str) -> str:
    """`$.a` + `b` -> `$.a.b`; keys that are not plain names use bracket notation."""
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


@dataclass(frozen=True)
class RootAccess:
    """A name read from the template context's root, and for `steps` the step id after it."""

    name: str
    step_id: str | None = None


def root_accesses(expression: Expression) -> list[RootAccess]:
    """The context names an expression reads from the root (e.g. `steps.sites...` ->
    `RootAccess("steps", "sites")`). Names inside filters, projections' right sides, pipes'
    right sides and `&expr` refer to other values and are not included."""
    found: list[RootAccess] = []
    _visit(expression.parsed.parsed, at_root=True, found=found)
    return found


def step_references(expression: Expression) -> list[str]:
    """The step ids an expression reads as `steps.<id>`."""
    return [access.step_id for access in root_accesses(expression) if access.name == "steps" and access.step_id]


def _leading_field(node: Mapping[str, Any]) -> str | None:
    if node["type"] == "field":
        return str(node["value"])
    if node["type"] in ("index_expression", "subexpression", "projection", "value_projection", "filter_projection"):
        return _leading_field(node["children"][0])
    if node["type"] == "flatten":
        return _leading_field(node["children"][0])
    return None


# Node types whose first child is evaluated where the node is and the rest on its result.
_CHAINS = frozenset(
    {"subexpression", "index_expression", "projection", "value_projection", "filter_projection", "pipe"}
)


def _visit(node: Mapping[str, Any], *, at_root: bool, found: list[RootAccess]) -> None:
    kind = node["type"]
    children: list[Mapping[str, Any]] = node.get("children", [])
    if kind == "field":
        if at_root:
            found.append(RootAccess(str(node["value"])))
        return
    if kind == "expref":
        for child in children:
            _visit(child, at_root=False, found=found)
        return
    if kind in _CHAINS and children:
        first, rest = children[0], children[1:]
        if at_root and first["type"] == "field" and kind == "subexpression" and rest:
            found.append(RootAccess(str(first["value"]), _leading_field(rest[0])))
        else:
            _visit(first, at_root=at_root, found=found)
        for child in rest:
            _visit(child, at_root=False, found=found)
        return
    for child in children:
        _visit(child, at_root=at_root, found=found)


def template_context(state: Mapping[str, Any]) -> dict[str, Any]:
    """The template context for a run's state document (what the step runner receives).

    Inside a fan_out iteration the state keeps the steps it inherited from outside under
    `outerSteps` (see the compiler); templates see them merged into `steps`."""
    steps = {**(state.get("outerSteps") or {}), **(state.get("steps") or {})}
    context: dict[str, Any] = {
        "trigger": state.get("trigger") or {},
        "steps": steps,
        "user": state.get("user") or {},
        "settings": state.get("settings") or {},
    }
    if "item" in state:
        context["item"] = state["item"]
        context["index"] = state.get("index")
    return context
