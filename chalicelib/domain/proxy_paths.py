"""Turns the path segments after `/sdk/proxy/{integration}/` into a path on the provider's API
origin, refusing anything that could leave the API (`..`, `//host`, `@`, `\\`, encoded tricks).

The mapping is data from the provider catalogue (`Provider.api_paths`)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.providers import ApiPaths

MAX_SEGMENTS = 16
MAX_SEGMENT_CHARS = 512
# Characters that stay literal in an upstream path segment (RFC 3986 pchar minus "%").
_SEGMENT_SAFE = "-._~!$&'()*+,;=:"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse(reason: str) -> BadRequest:
    return BadRequest(f"The proxy path is not allowed: {reason}.", code="invalid_proxy_path")


def clean_segments(raw_segments: list[str]) -> list[str]:
    """Decode each segment once and check it cannot change the path's meaning upstream."""
    if not raw_segments:
        raise _refuse("it is empty")
    if len(raw_segments) > MAX_SEGMENTS:
        raise _refuse(f"it has more than {MAX_SEGMENTS} segments")
    cleaned = []
    for raw in raw_segments:
        if len(raw) > MAX_SEGMENT_CHARS:
            raise _refuse("a segment is too long")
        try:
            segment = unquote(raw, errors="strict") if "%" in raw else raw
        except UnicodeDecodeError:
            raise _refuse("it contains percent-encoding that is not UTF-8") from None
        if segment == "":
            raise _refuse("it contains an empty segment (//)")
        if segment in (".", ".."):
            raise _refuse("it contains a '.' or '..' segment")
        if "/" in segment or "\\" in segment:
            raise _refuse("it contains an encoded '/' or a '\\'")
        if "@" in segment:
            raise _refuse("it contains '@'")
        if "%" in segment:
            raise _refuse("it contains a doubly encoded character")
        if _CONTROL.search(segment):
            raise _refuse("it contains control characters (CR, LF, NUL, ...)")
        cleaned.append(segment)
    if cleaned[0].endswith(":") or "://" in "/".join(raw_segments):
        raise _refuse("it looks like an absolute URL")
    return cleaned


def api_path(paths: ApiPaths, segments: list[str]) -> str:
    """The provider API path for the SDK's proxy path. For WordPress.com (DESIGN's mapping):
    `v1.x/...` -> `/rest/v1.x/...`; `wp/v2/...`, `wpcom/v2/...` -> `/wp/v2/...`; else `/rest/v1.1/...`.
    """
    cleaned = clean_segments(segments)
    if cleaned[0] in paths.versions:
        prefix, rest = [*paths.versioned_prefix, cleaned[0]], cleaned[1:]
    elif cleaned[0] in paths.namespaces and len(cleaned) > 1 and re.fullmatch(r"v\d+", cleaned[1]):
        prefix, rest = cleaned[:2], cleaned[2:]
    else:
        prefix, rest = list(paths.default_prefix), cleaned
    return "/" + "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in [*prefix, *rest])
