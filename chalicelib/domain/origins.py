"""Web origins (`scheme://host[:port]`): strict parsing and comparison. Pure; no I/O."""

from __future__ import annotations

import ipaddress
import re

MAX_ORIGIN_CHARS = 255
DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^/?#:@\[\]\s]+)(?::(?P<port>[0-9]{1,5}))?(?P<rest>.*)$",
    re.DOTALL,
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidOrigin(ValueError):
    """The value is not an http(s) origin; the message says why."""


def parse_origin(value: str) -> str:
    """The canonical form of an origin given as `scheme://host[:port]`, or InvalidOrigin.

    http and https only; a DNS name (ASCII, as browsers send it), an IPv4 address or a bracketed
    IPv6 address; no user info, path, query or fragment. Scheme and host are lower-cased and a
    default port is dropped, which is how browsers write the `Origin` header.
    """
    if len(value) > MAX_ORIGIN_CHARS:
        raise InvalidOrigin(f"an origin has at most {MAX_ORIGIN_CHARS} characters")
    if value != value.strip() or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise InvalidOrigin("an origin is printable ASCII without spaces (write international names as punycode)")
    scheme_match = _SCHEME.match(value)
    port_only = value[scheme_match.end() :].isdigit() if scheme_match is not None else False  # `localhost:3000`
    if scheme_match is not None and not port_only and scheme_match[1].lower() not in DEFAULT_PORTS:
        raise InvalidOrigin("only http and https origins are allowed")
    match = _ORIGIN.match(value)
    if match is None:
        raise InvalidOrigin("an origin looks like https://app.example.com or http://localhost:3000")
    scheme = match["scheme"].lower()
    if match["rest"]:
        raise InvalidOrigin("an origin has no path, query or fragment (not even a trailing '/')")
    host = _canonical_host(match["host"])
    port = match["port"]
    if port is None:
        return f"{scheme}://{host}"
    number = int(port)
    if not 1 <= number <= 65535:
        raise InvalidOrigin("the port must be 1 to 65535")
    if number == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{number}"


def _canonical_host(raw: str) -> str:
    if raw.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
        except ValueError:
            raise InvalidOrigin("the host is not a valid IPv6 address") from None
    host = raw.lower()
    if host.replace(".", "").isdigit():
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise InvalidOrigin("the host is not a valid IPv4 address") from None
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidOrigin("the host is not a valid DNS name")
    return host


def origin_or_none(value: str | None) -> str | None:
    """`parse_origin(value)`, or None when it is absent or not an origin."""
    if not value:
        return None
    try:
        return parse_origin(value)
    except InvalidOrigin:
        return None


def origin_of_url(url: str | None) -> str | None:
    """The origin of an absolute http(s) URL (as in a `Referer` header), or None."""
    if not url:
        return None
    match = _ORIGIN.match(url)
    if match is None or (match["rest"] and match["rest"][0] not in "/?#"):
        return None
    end = len(url) - len(match["rest"])
    return origin_or_none(url[:end])
