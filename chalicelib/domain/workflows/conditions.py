"""What a condition means: the reference evaluation of `{left, op, right}`, `all` and `any`.

The step runner evaluates conditions with `evaluate`; the compiler turns the simple ones into
native `Choice` rules that must agree with it (tests check both on the same values).

- `equals` / `not_equals`: JSON equality. Types must match: `1` equals `1.0` but not `true` or `"1"`.
  A missing value is `null`, so `equals null` is the same as `not_exists`.
- `gt`, `gte`, `lt`, `lte`: both numbers (booleans are not numbers) or both strings (code point
  order); anything else is false.
- `contains`: a string contains a substring, or a list contains an equal element; else false.
- `exists`: the value is present and not null; `not_exists` is its negation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain.workflows import templates
from chalicelib.domain.workflows.model import AllOf, AnyOf, Comparison, Condition

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def is_number(value: Any) -> bool:
    """True for JSON numbers (not booleans)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of two JSON values, with booleans, numbers and strings kept apart."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if type(left) is not type(right):
        return False
    return bool(left == right)


def compare(left: Any, op: str, right: Any) -> bool:
    """Apply one operator to two resolved values."""
    if op == "equals":
        return json_equal(left, right)
    if op == "not_equals":
        return not json_equal(left, right)
    if op == "exists":
        return left is not None
    if op == "not_exists":
        return left is None
    if op == "contains":
        if isinstance(left, str) and isinstance(right, str):
            return right in left
        if isinstance(left, list):
            return any(json_equal(element, right) for element in left)
        return False
    order = _ORDER[op]
    if (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return order(left, right)
    return False


def evaluate(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition, resolving the templates in its operands against the context."""
    if isinstance(condition, AllOf):
        return all(evaluate(part, context) for part in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(evaluate(part, context) for part in condition.conditions)
    assert isinstance(condition, Comparison)
    left = templates.resolve(condition.left, context)
    right = templates.resolve(condition.right, context)
    return compare(left, condition.op, right)
