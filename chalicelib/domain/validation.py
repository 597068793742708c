"""Checks shared by the JSON bodies and other untrusted text the API accepts."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.domain.errors import BadRequest


def check_fields(body: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    """Refuse unknown fields, then missing required ones, naming them."""
    allowed_set = set(allowed)
    unknown = sorted(set(body) - allowed_set)
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)[:200]}.", code="unknown_field")
    for name in required:
        if name not in body:
            raise BadRequest(f"Field '{name}' is required.", code="missing_field")


def has_unpaired_surrogate(text: str) -> bool:
    """True if `text` holds a lone UTF-16 surrogate (U+D800-U+DFFF), which UTF-8 cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def has_control_characters(text: str) -> bool:
    """True if `text` holds a control character: C0 (NUL to US), DEL or C1 (U+0080-U+009F)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)
