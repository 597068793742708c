"""Transport-neutral HTTP request and response values used by every endpoint module."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit


@dataclass(frozen=True)
class Request:
    """A parsed request: path without query, decoded query, case-insensitive headers, raw body."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def build(cls, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Request:
        """Parse a request target (`/path?query`) and keep headers under lower-case names."""
        parts = urlsplit(target)
        return cls(
            method=method.upper(),
            path=parts.path or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
        )

    def arg(self, name: str) -> str | None:
        """First value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def form(self) -> dict[str, str]:
        """The body as form fields (first value of each), or {} when it is not valid UTF-8."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
        return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


@dataclass
class Response:
    """What an endpoint answers; the server adds Content-Length."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None, *, pretty: bool = False
) -> Response:
    """A JSON response."""
    text = json.dumps(payload, indent=2 if pretty else None, ensure_ascii=False)
    return Response(status, text.encode("utf-8"), "application/json", list(headers or []))


def no_store(response: Response) -> Response:
    """Mark a response as not cacheable (OAuth responses carrying codes or tokens)."""
    response.headers += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    return response


def html_response(status: int, page: str) -> Response:
    """An HTML page that may not be framed or cached and runs no scripts."""
    return no_store(
        Response(
            status,
            page.encode("utf-8"),
            "text/html; charset=utf-8",
            [
                (
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
                ),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "no-referrer"),
            ],
        )
    )


def redirect(location: str) -> Response:
    """A 302 redirect."""
    return no_store(Response(302, b"", None, [("Location", location)]))


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """Append parameters (skipping None values) to a URI that may already carry a query."""
    parts = urlsplit(uri)
    extra = urlencode([(name, value) for name, value in params.items() if value is not None])
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
