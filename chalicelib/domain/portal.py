"""What the Connect Portal shows for an integration, and the end user's settings values.

Pure rules, no I/O. A project sets `portal` on its integration settings (admin API):

    {"description": str, "overview": str, "accentColor": "#rrggbb",
     "userSettings": [{"id", "title", "type": "text|number|boolean|dropdown",
                       "required"?, "placeholder"?, "defaultValue"?, "options"?: [{"label", "value"}]}]}

The SDK reads them from `/sdk/integrations` (`configs[0].values`: `description`, `overview`,
`accentColor`, `sharedMeta.inputs` in Paragon's input shape) and the portal renders them as text.
An end user's values (`sharedSettings`, saved by the SDK's `updateIntegrationUserSettings`) are
checked against the declared inputs by `check_user_values`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_DESCRIPTION = 300
MAX_OVERVIEW = 4000
MAX_TITLE = 100
MAX_PLACEHOLDER = 200
MAX_TEXT_VALUE = 2000
MAX_INPUTS = 20
MAX_OPTIONS = 100
MAX_USER_VALUES_BYTES = 16 * 1024
INPUT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}\Z")
FIELDS = ("description", "overview", "accentColor", "userSettings")
INPUT_FIELDS = ("id", "title", "type", "required", "placeholder", "defaultValue", "options")
# Tether's input types and the SDK's `SidebarInputType` each one is sent as.
SDK_INPUT_TYPES = {
    "text": "TEXT_NO_VARS",
    "number": "NUMBER",
    "boolean": "BOOLEAN_INPUT",
    "dropdown": "CUSTOM_DROPDOWN",
}


@dataclass(frozen=True)
class PortalSettings:
    """Validated portal settings; `user_settings` holds the inputs as their canonical JSON objects."""

    description: str = ""
    overview: str = ""
    accent_color: str | None = None
    user_settings: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The admin API's (and storage's) form."""
        return {
            "description": self.description,
            "overview": self.overview,
            "accentColor": self.accent_color,
            "userSettings": [dict(item) for item in self.user_settings],
        }

    def sdk_values(self) -> dict[str, Any]:
        """The keys the SDK reads from `configs[0].values` (besides `workflowMeta`)."""
        values: dict[str, Any] = {"sharedMeta": {"inputs": [_sdk_input(item) for item in self.user_settings]}}
        if self.description:
            values["description"] = self.description
        if self.overview:
            values["overview"] = self.overview
        if self.accent_color:
            values["accentColor"] = self.accent_color
        return values


def _sdk_input(item: Mapping[str, Any]) -> dict[str, Any]:
    sdk: dict[str, Any] = {
        "id": item["id"],
        "key": item["id"],
        "title": item["title"],
        "type": SDK_INPUT_TYPES[item["type"]],
        "required": item.get("required", False),
    }
    for name in ("placeholder", "defaultValue"):
        if name in item:
            sdk[name] = item[name]
    if item["type"] == "dropdown":
        sdk["keyIsDefault"] = False
        sdk["customDropdownOptions"] = [dict(option) for option in item["options"]]
    return sdk


def from_stored(value: Any) -> PortalSettings:
    """Settings read back from storage (already validated when written)."""
    if not isinstance(value, dict):
        return PortalSettings()
    try:
        return parse_portal_settings(value)
    except ValueError:
        return PortalSettings()


def parse_portal_settings(value: Any) -> PortalSettings:
    """Validate a `portal` object; every problem is listed in one ValueError message."""
    problems: list[str] = []
    if not isinstance(value, dict):
        raise ValueError("Field 'portal' must be an object.")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        problems.append(f"portal: unknown field(s) {', '.join(unknown)[:200]}.")
    description = _text(value, "description", MAX_DESCRIPTION, problems, single_line=True)
    overview = _text(value, "overview", MAX_OVERVIEW, problems, single_line=False)
    accent = value.get("accentColor")
    if accent is not None and (not isinstance(accent, str) or not HEX_COLOR.match(accent)):
        problems.append("portal.accentColor must be a colour like '#3b5bdb' (or null).")
        accent = None
    inputs = _inputs(value.get("userSettings", []), problems)
    if problems:
        raise ValueError(" ".join(problems))
    return PortalSettings(description, overview, accent.lower() if accent else None, inputs)


def _text(value: Mapping[str, Any], name: str, limit: int, problems: list[str], *, single_line: bool) -> str:
    text = value.get(name)
    if text is None:
        return ""
    if not isinstance(text, str):
        problems.append(f"portal.{name} must be a string.")
        return ""
    allowed = "" if single_line else "\n\t"
    if len(text) > limit or any((ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 for ch in text):
        problems.append(
            f"portal.{name} must be at most {limit} characters of text" + (" on one line." if single_line else ".")
        )
        return ""
    return text.strip()


def _inputs(value: Any, problems: list[str]) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        problems.append("portal.userSettings must be a list.")
        return ()
    if len(value) > MAX_INPUTS:
        problems.append(f"portal.userSettings: at most {MAX_INPUTS} inputs.")
        return ()
    inputs: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"portal.userSettings[{index}]"
        count = len(problems)
        parsed = _input(item, where, problems)
        if parsed is None or len(problems) > count:
            continue
        if parsed["id"] in seen:
            problems.append(f"{where}.id {parsed['id']!r} is used twice.")
            continue
        seen.add(parsed["id"])
        inputs.append(parsed)
    return tuple(inputs)


def _input(item: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        problems.append(f"{where} must be an object.")
        return None
    unknown = sorted(set(item) - set(INPUT_FIELDS))
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)[:200]}.")
    input_id, title, kind = item.get("id"), item.get("title"), item.get("type")
    if not isinstance(input_id, str) or not INPUT_ID.match(input_id):
        problems.append(f"{where}.id must be 1-64 letters, digits, '_' or '-', starting with a letter.")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE or _has_control(title):
        problems.append(f"{where}.title must be 1-{MAX_TITLE} characters of text.")
    if kind not in SDK_INPUT_TYPES:
        problems.append(f"{where}.type must be one of {', '.join(SDK_INPUT_TYPES)}.")
        return None
    parsed: dict[str, Any] = {"id": input_id, "title": title.strip() if isinstance(title, str) else title, "type": kind}
    required = item.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{where}.required must be true or false.")
    parsed["required"] = required
    placeholder = item.get("placeholder")
    if placeholder is not None:
        if not isinstance(placeholder, str) or len(placeholder) > MAX_PLACEHOLDER or _has_control(placeholder):
            problems.append(f"{where}.placeholder must be at most {MAX_PLACEHOLDER} characters of text.")
        else:
            parsed["placeholder"] = placeholder
    if kind == "dropdown":
        parsed["options"] = _options(item.get("options"), where, problems)
    elif "options" in item:
        problems.append(f"{where}.options is only for dropdown inputs.")
    if "defaultValue" in item and item["defaultValue"] is not None:
        error = _value_problem(parsed, item["defaultValue"])
        if error:
            problems.append(f"{where}.defaultValue {error}")
        else:
            parsed["defaultValue"] = item["defaultValue"]
    return parsed


def _options(value: Any, where: str, problems: list[str]) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value or len(value) > MAX_OPTIONS:
        problems.append(f"{where}.options must be a list of 1-{MAX_OPTIONS} {{label, value}} objects.")
        return []
    options: list[dict[str, str]] = []
    for index, option in enumerate(value):
        ok = (
            isinstance(option, dict)
            and set(option) == {"label", "value"}
            and all(isinstance(option[k], str) and 0 < len(option[k]) <= MAX_TITLE for k in ("label", "value"))
            and not any(_has_control(option[k]) for k in ("label", "value"))
        )
        if not ok:
            problems.append(
                f"{where}.options[{index}] must be {{'label': text, 'value': text}} (1-{MAX_TITLE} characters)."
            )
            return []
        options.append({"label": option["label"], "value": option["value"]})
    if len({option["value"] for option in options}) != len(options):
        problems.append(f"{where}.options: each value must be different.")
    return options


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _value_problem(item: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` does not fit the input, or None when it does (None values clear a setting)."""
    kind = item["type"]
    if value is None:
        return None
    if kind == "text":
        if not isinstance(value, str) or len(value) > MAX_TEXT_VALUE:
            return f"must be text of at most {MAX_TEXT_VALUE} characters."
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number."
    elif kind == "boolean":
        if not isinstance(value, bool):
            return "must be true or false."
    elif kind == "dropdown" and value not in [option["value"] for option in item.get("options", [])]:
        return "must be one of the dropdown's values."
    return None


def check_user_values(settings: PortalSettings, values: Any) -> dict[str, Any]:
    """An end user's `sharedSettings` checked against the declared inputs: values of inputs the
    project no longer declares are dropped (the SDK sends back everything it holds), a value of
    the wrong kind is a ValueError naming the input."""
    if not isinstance(values, dict):
        raise ValueError("'config.sharedSettings' must be a JSON object.")
    declared = {item["id"]: item for item in settings.user_settings}
    kept: dict[str, Any] = {}
    problems = []
    for key, value in values.items():
        item = declared.get(str(key))
        if item is None:
            continue
        problem = _value_problem(item, value)
        if problem:
            problems.append(f"Setting '{item['title']}' {problem}")
        elif value is not None:
            kept[item["id"]] = value
    if problems:
        raise ValueError(" ".join(problems))
    if len(json.dumps(kept)) > MAX_USER_VALUES_BYTES:
        raise ValueError("'config.sharedSettings' is over 16 KB.")
    return kept
