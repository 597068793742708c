"""Small helpers shared by the DynamoDB repositories."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import BadRequest, TetherError, UpstreamError
from chalicelib.domain.validation import has_unpaired_surrogate

log = logging.getLogger("tether.storage")

# What DynamoDB (and moto, word for word) says when a key value is over its size limit: a partition
# key over 2048 bytes ("...maximum size limit of2048 bytes", sic), a sort key over 1024 bytes, or an
# index key over its limit. Only these are the caller's fault.
KEY_TOO_LARGE_MESSAGES = (
    "Size of hashkey has exceeded the maximum size limit",
    "Aggregated size of all range keys has exceeded the size limit",
    "Size limit exceeded for Index Key",
)
LOGGED_MESSAGE_CHARS = 300


def is_condition_failure(exc: ClientError) -> bool:
    """True when a conditional write was refused because its condition did not hold."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def storage_error(exc: ClientError) -> TetherError:
    """A caller-safe error for a failed DynamoDB call.

    A key over DynamoDB's size limits comes from an over-long id in the request: that is bad input
    (400). Any other refusal, including other ValidationExceptions, is Tether's own fault or an
    outage: it is logged and answered with a 5xx, so it is not mistaken for the caller's."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", ""))
    if code == "ValidationException" and any(known in message for known in KEY_TOO_LARGE_MESSAGES):
        return BadRequest("An id or value in the request is too long or malformed.", code="invalid_identifier")
    log.error("DynamoDB %s failed: %s: %s", exc.operation_name, code, message[:LOGGED_MESSAGE_CHARS] or "(no message)")
    return UpstreamError(f"The data store is unavailable ({code}).", code="storage_unavailable")


def query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a Query matches, following `LastEvaluatedKey` page by page."""
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as exc:
        raise storage_error(exc) from None


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
