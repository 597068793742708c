"""The DynamoDB table the repositories use, and small helpers they share.

`Table` is the low-level DynamoDB client bound to one table name. Repositories pass and get plain
Python values (str, int/Decimal, bool, None, bytes, list, dict, set); `Table` turns them into
DynamoDB's typed attribute values and back, the way boto3's resource layer did, so items written
by either read back the same. Expressions are strings with `#name` and `:value` placeholders.

Why not boto3's resource layer (or `boto3.dynamodb.types`): importing any of `boto3` costs about
150 ms of a Lambda's cold start (it imports s3transfer), and a resource `Table` is not safe to
share between threads. The conversion below is what `boto3.dynamodb.types` does, type by type
(tests/test_dynamo_values.py compares the two on every type).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import BadRequest, TetherError, UpstreamError
from chalicelib.domain.validation import has_unpaired_surrogate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

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


# DynamoDB's number range and precision; a number it cannot hold exactly is refused, not rounded
# (the same context as boto3's, so numbers serialise and read back identically).
NUMBER_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])

# The request fields holding items or attribute values, and the response fields holding items.
_VALUE_MAPS = ("Item", "Key", "ExpressionAttributeValues", "ExclusiveStartKey")
_ITEM_FIELDS = ("Item", "Attributes", "LastEvaluatedKey")


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (`{"S": "x"}`, `{"N": "1"}`, ...).

    float is refused (DynamoDB numbers are decimal: use int or Decimal), as boto3 refuses it."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": value}
    if isinstance(value, AbstractSet):
        members = list(value)
        if all(_is_number(m) for m in members):
            return {"NS": [_number(m) for m in members]}
        if all(isinstance(m, str) for m in members):
            return {"SS": members}
        if all(isinstance(m, bytes | bytearray) for m in members):
            return {"BS": members}
    elif isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    elif isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a Python value: numbers are Decimal, sets are sets, binary
    is bytes."""
    if len(value) != 1:
        raise TypeError("An attribute value has exactly one type.")
    ((kind, data),) = value.items()
    if kind == "S":
        return data
    if kind == "N":
        return NUMBER_CONTEXT.create_decimal(data)
    if kind == "BOOL":
        return data
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: deserialize(v) for k, v in data.items()}
    if kind == "L":
        return [deserialize(v) for v in data]
    if kind == "SS":
        return set(data)
    if kind == "NS":
        return {NUMBER_CONTEXT.create_decimal(n) for n in data}
    if kind == "B":
        return bytes(data)
    if kind == "BS":
        return {bytes(b) for b in data}
    raise TypeError(f"DynamoDB type {kind} is not supported")


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or key, or expression values) as DynamoDB attribute values."""
    return {name: serialize(value) for name, value in item.items()}


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item read from DynamoDB as plain Python values."""
    return {name: deserialize(value) for name, value in item.items()}


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _number(value: int | Decimal) -> str:
    text = str(NUMBER_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return text


class Table:
    """One DynamoDB table through the low-level client, with plain Python values in and out.

    Each method takes the DynamoDB operation's own parameters (without `TableName`) and returns
    its response with items converted. It holds no per-call state, so one `Table` is shared by
    every thread (the client it uses is thread-safe)."""

    def __init__(self, name: str, client: Callable[[], DynamoDBClient]) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The low-level client the table's calls go through."""
        return self._client()

    def get_item(self, **params: Any) -> dict[str, Any]:
        """GetItem; the response's `Item` (if any) as plain values."""
        return _from_wire(self.client.get_item(**self._to_wire(params)))

    def put_item(self, **params: Any) -> dict[str, Any]:
        """PutItem."""
        return _from_wire(self.client.put_item(**self._to_wire(params)))

    def update_item(self, **params: Any) -> dict[str, Any]:
        """UpdateItem; `Attributes` (with `ReturnValues`) as plain values."""
        return _from_wire(self.client.update_item(**self._to_wire(params)))

    def delete_item(self, **params: Any) -> dict[str, Any]:
        """DeleteItem; `Attributes` (with `ReturnValues`) as plain values."""
        return _from_wire(self.client.delete_item(**self._to_wire(params)))

    def query(self, **params: Any) -> dict[str, Any]:
        """One page of a Query: `Items` and `LastEvaluatedKey` as plain values."""
        return _from_wire(self.client.query(**self._to_wire(params)))

    def scan(self, **params: Any) -> dict[str, Any]:
        """One page of a Scan: `Items` and `LastEvaluatedKey` as plain values."""
        return _from_wire(self.client.scan(**self._to_wire(params)))

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        """TransactWriteItems; each entry (`Put`, `Update`, `Delete`, `ConditionCheck`) names its
        own `TableName` and holds plain values."""
        operations = [{kind: _values_to_wire(fields) for kind, fields in entry.items()} for entry in TransactItems]
        self.client.transact_write_items(TransactItems=operations)  # type: ignore[arg-type]

    def _to_wire(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self.name, **_values_to_wire(params)}

    def __repr__(self) -> str:
        return f"<dynamodb table {self.name!r}>"


def _values_to_wire(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: serialize_item(value) if name in _VALUE_MAPS else value for name, value in params.items()}


def _from_wire(response: Any) -> dict[str, Any]:
    result = dict(response)
    for name in _ITEM_FIELDS:
        if name in result:
            result[name] = deserialize_item(result[name])
    if "Items" in result:
        result["Items"] = [deserialize_item(item) for item in result["Items"]]
    return result


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


def query_all(table: Table, **kwargs: Any) -> list[dict[str, Any]]:
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
