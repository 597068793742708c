"""Domain errors. Each carries the HTTP status and machine-readable code the API maps it to."""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error Tether reports to a caller as `{"message", "code"}`."""

    status = 500
    code = "internal_error"
    # Seconds after which retrying may succeed: sent as `Retry-After` (429s and passing 503s).
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def details(self) -> dict[str, object]:
        """Fields the error body carries beside `message` and `code` (none by default)."""
        return {}


class Misconfigured(TetherError):
    """The deployment's settings are wrong; nothing can be served until an operator fixes them."""

    status = 500
    code = "misconfigured"


class BadRequest(TetherError):
    """The request is malformed or fails validation."""

    status = 400
    code = "bad_request"


class Unauthorized(TetherError):
    """Missing, invalid or expired credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(TetherError):
    """Authenticated, but not allowed to do this."""

    status = 403
    code = "forbidden"


class NotFound(TetherError):
    """The addressed thing does not exist (or is not visible to the caller)."""

    status = 404
    code = "not_found"


class Conflict(TetherError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(TetherError):
    """The request body exceeds the configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TetherError):
    """The request body's content type is not accepted."""

    status = 415
    code = "unsupported_media_type"


class IntegrationNotConnected(TetherError):
    """The end user has no usable credential for the integration."""

    status = 422
    code = "integration_not_connected"


class UpstreamError(TetherError):
    """A provider or AWS dependency failed."""

    status = 502
    code = "upstream_error"
