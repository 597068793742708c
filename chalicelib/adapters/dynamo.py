"""Small helpers shared by the DynamoDB repositories."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import BadRequest, TetherError, UpstreamError
from chalicelib.domain.validation import has_unpaired_surrogate


def is_condition_failure(exc: ClientError) -> bool:
    """True when a conditional write was refused because its condition did not hold."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def storage_error(exc: ClientError) -> TetherError:
    """A caller-safe error for a failed DynamoDB call.

    A ValidationException means a value from the request could not be a key (an id longer than
    DynamoDB's key limits, say): that is bad input, not an outage."""
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    if code == "ValidationException":
        return BadRequest("An id or value in the request is too long or malformed.", code="invalid_identifier")
    return UpstreamError(f"The data store is unavailable ({code}).", code="storage_unavailable")


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    """Turn a LastEvaluatedKey into an opaque page cursor."""
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, allowed_keys: set[str]) -> dict[str, Any] | None:
    """Parse a cursor from `encode_cursor`; a tampered or foreign cursor is a 400."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError, binascii.Error):
        raise BadRequest("The page cursor is malformed.", code="invalid_cursor") from None
    if (
        not isinstance(data, dict)
        or set(data) != allowed_keys
        or not all(isinstance(v, str) and not has_unpaired_surrogate(v) for v in data.values())
    ):
        raise BadRequest("The page cursor is malformed.", code="invalid_cursor")
    return data
