"""Webhook delivery signatures (pure): `X-Tether-Signature: t=<unix seconds>,v1=<hex>`, where the
hex is HMAC-SHA256(secret, "<t>.<raw body>"). A delivery is accepted within `TOLERANCE_SECONDS`
of its timestamp (either side, for clock skew) when any currently valid secret signed it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from chalicelib.domain.errors import Unauthorized

SIGNATURE_HEADER = "X-Tether-Signature"
TOLERANCE_SECONDS = 300
MAX_HEADER_CHARS = 1000


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Tether-Signature` value a sender puts on a delivery."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(header: str | None, body: bytes, secrets: Iterable[str], now: float) -> None:
    """Accept the delivery or raise 401: missing, malformed, stale or wrong signatures."""
    if not header:
        raise Unauthorized(f"The {SIGNATURE_HEADER} header is missing.", code="signature_missing")
    timestamp, candidates = _parse(header)
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise Unauthorized(
            f"The signature's timestamp is more than {TOLERANCE_SECONDS // 60} minutes from now.",
            code="signature_expired",
        )
    for secret in secrets:
        expected = signature(secret, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise Unauthorized("The signature does not match the body and the webhook's secret.", code="invalid_signature")


def _parse(header: str) -> tuple[int, list[str]]:
    """`t=` once and one or more `v1=` (several while a sender moves to a new secret)."""
    malformed = Unauthorized(
        f"The {SIGNATURE_HEADER} header must be 't=<unix seconds>,v1=<hex HMAC-SHA256>'.", code="invalid_signature"
    )
    if len(header) > MAX_HEADER_CHARS:
        raise malformed
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and timestamp is None and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            candidates.append(value)
    if timestamp is None or not candidates:
        raise malformed
    return timestamp, candidates
