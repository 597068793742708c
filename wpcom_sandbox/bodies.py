"""Request bodies as WordPress.com reads them: JSON, form-urlencoded or multipart, with PHP-style
bracketed names (`tags[]=a`, `attrs[0][title]=x`) turned into nested dicts (`[]` numbers from 0).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import parse_qsl

from wpcom_sandbox.messages import Request

_BRACKETS = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart body; `field_name` is its base name (`media[]` -> `media`)."""

    field_name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Body:
    """Decoded fields and uploaded files."""

    fields: dict[str, Any]
    files: list[Upload]

    def uploads(self, name: str) -> list[Upload]:
        """The files sent under a base name, in order."""
        return [upload for upload in self.files if upload.field_name == name]


def read_body(request: Request) -> Body:
    """The body's fields and files; a body that does not parse reads as empty (WordPress.com's `null`)."""
    media_type = request.media_type
    if media_type == "multipart/form-data":
        pairs, files = _multipart(request.body, request.header("content-type") or "")
        return Body(php_fields(pairs), files)
    text = request.body.decode("utf-8", errors="replace").strip()
    if media_type in ("application/json", "text/json", "text/x-json", "application/x-javascript"):
        return Body(_json_object(text), [])
    if media_type == "application/x-www-form-urlencoded" and text.startswith("{"):
        decoded = _json_object(text)  # WordPress.com tries JSON first ("probably a curl command")
        if decoded:
            return Body(decoded, [])
    return Body(php_fields(parse_qsl(text, keep_blank_values=True)), [])


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def php_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest `name[a][b]=v` pairs the way PHP fills `$_POST`."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        base, _, rest = name.partition("[")
        keys = _BRACKETS.findall("[" + rest) if rest else []
        node, key = root, base
        for sub in keys:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node, key = child, sub or str(len(child))
        node[key] = value
    return root


def _param(header: str, name: str) -> str:
    message = Message()
    message["x"] = header
    value = message.get_param(name, header="x")
    if value is None:
        return ""
    return collapse_rfc2231_value(value) if isinstance(value, tuple) else str(value)


def _multipart(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], list[Upload]]:
    boundary = _param(content_type, "boundary")
    pairs: list[tuple[str, str]] = []
    files: list[Upload] = []
    if not boundary:
        return pairs, files
    for section in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if section.startswith(b"--"):
            break
        head, separator, data = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            header_name, _, header_value = line.partition(":")
            headers[header_name.strip().lower()] = header_value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        data = data.removesuffix(b"\r\n")
        if "filename=" in disposition or "filename*=" in disposition:
            filename = _param(disposition, "filename")
            if filename:
                kind = headers.get("content-type", "application/octet-stream")
                files.append(Upload(name.split("[", 1)[0], filename, kind, data))
        elif name:
            pairs.append((name, data.decode("utf-8", errors="replace")))
    return pairs, files


def as_list(value: Any) -> list[Any]:
    """A field that may be one value, a list, or a PHP-style dict of values."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return [value]
