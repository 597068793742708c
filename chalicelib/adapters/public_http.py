"""Outbound HTTPS to any public host (workflow `http` steps), with the proxy's SSRF rules.

The host is resolved once; every address it resolves to must be public (no private, loopback,
link-local, shared, multicast or reserved range, IPv4-mapped forms included), and the connection
goes to the address that was checked, with TLS verified against the host name. So a name that
resolves to a public address at check time and to an internal one a moment later (DNS
rebinding) cannot redirect the request. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.errors import BadRequest, TetherError


class BlockedDestination(BadRequest):
    """The URL names a host that resolves to an address workflows may not call."""

    code = "blocked_destination"


class DestinationUnreachable(TetherError):
    """The host could not be resolved or reached, or did not answer in time."""

    status = 502
    code = "destination_unreachable"


class ResponseTooLarge(TetherError):
    """The answer is larger than a step may return."""

    status = 502
    code = "response_too_large"


@dataclass(frozen=True)
class HttpAnswer:
    """A host's answer."""

    status: int
    headers: dict[str, str]
    body: bytes


def is_public_address(address: str, *, allow_loopback: bool = False) -> bool:
    """True for a globally routable unicast address (and loopback when allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback and ip.is_loopback:
        return True
    return bool(ip.is_global) and not ip.is_multicast


def resolve_public(host: str, port: int, *, allow_loopback: bool = False) -> str:
    """The address to connect to: the first one `host` resolves to, after checking them all."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationUnreachable(f"The host {host!r} could not be resolved.") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise DestinationUnreachable(f"The host {host!r} could not be resolved.")
    for address in addresses:
        if not is_public_address(address, allow_loopback=allow_loopback):
            raise BlockedDestination(f"The host {host!r} resolves to a non-public address; workflows may not call it.")
    return addresses[0]


def call(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    timeout: float,
    max_bytes: int,
    allow_loopback: bool = False,
    ca_bundle: str | None = None,
) -> HttpAnswer:
    """Send one request to a public https URL (no retry, no redirect)."""
    import urllib3

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise BadRequest("Workflow http steps call https URLs only.", code="invalid_url")
    host = parts.hostname
    port = parts.port or 443
    address = resolve_public(host, port, allow_loopback=allow_loopback)
    pool = urllib3.HTTPSConnectionPool(
        address,
        port,
        server_hostname=host,
        assert_hostname=host,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_bundle or _ca_bundle(),
        timeout=urllib3.Timeout(connect=min(3.05, timeout), read=timeout),
        retries=False,
        maxsize=1,
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {**headers, "Host": host if parts.port in (None, 443) else f"{host}:{port}"}
    try:
        response: Any = pool.urlopen(
            method, target, body=body, headers=sent, redirect=False, preload_content=False, assert_same_host=False
        )
        try:
            data = b""
            for chunk in response.stream(64 * 1024, decode_content=True):
                data += chunk
                if len(data) > max_bytes:
                    raise ResponseTooLarge(f"The answer is over {max_bytes} bytes.")
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise DestinationUnreachable(f"The request to {host!r} failed ({type(exc).__name__}).") from None
    finally:
        pool.close()
    return HttpAnswer(int(response.status), {k: v for k, v in response.headers.items()}, data)


def _ca_bundle() -> str:
    import certifi

    return str(certifi.where())
