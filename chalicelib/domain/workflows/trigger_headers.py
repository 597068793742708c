"""Which of a caller's request headers a workflow run may see (webhook and request triggers).

A run's trigger input is stored in its history and readable by the project's admins and by
every step's templates, so credentials, Tether's own control headers and what the network in
between adds are never part of it. Everything else (a sender's `X-Shop-Topic`, a custom
`X-Request-Kind`) passes, because workflows branch on such headers.
"""

from __future__ import annotations

from collections.abc import Iterable

# Credentials and Tether's or the SDK's own control headers.
_CREDENTIALS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-tether-signature",
        "x-paragon-credential",
        "x-paragon-configuration-id",
    }
)
# Hop-by-hop and framing headers: they describe the connection, not the request.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
)
# Added by browsers, API Gateway, CloudFront, load balancers and proxies on the way.
_INFRASTRUCTURE = frozenset({"forwarded", "via", "x-real-ip"})
_INFRASTRUCTURE_PREFIXES = ("x-forwarded-", "x-amz", "cloudfront-", "sec-")


def visible_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers a run may see, names lower-cased."""
    visible: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in _CREDENTIALS or lowered in _HOP_BY_HOP or lowered in _INFRASTRUCTURE:
            continue
        if lowered.startswith(_INFRASTRUCTURE_PREFIXES):
            continue
        visible[lowered] = value
    return visible
