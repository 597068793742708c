"""DynamoDB values: `dynamo.Table` converts them exactly as boto3's resource layer did, so items
written by either read back the same through the other (the wire format is DynamoDB's)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from chalicelib.adapters import dynamo

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**63,
    10**37,
    Decimal("1.5"),
    Decimal("-0.000001"),
    Decimal("1E+100"),
    Decimal("1e-120"),
    Decimal("12345678901234567890123456789012345678"),
    "",
    "text with ünïcode and \u2028",
    b"",
    b"\x00\xffbinary",
    bytearray(b"ba"),
    {1, 2, Decimal("3.25")},
    {"a", "b"},
    {b"x", b"y"},
    frozenset({"f"}),
    set(),
    [],
    [1, "a", None, [True, {"k": Decimal("2.5")}]],
    ("tuple", 1),
    {},
    {"nested": {"deeper": {"n": 1, "s": {"x"}, "l": [b"b", {"m": None}]}}},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_serialise_as_boto3_serialises_them(value: Any) -> None:
    ours = dynamo.serialize(value)
    theirs = TypeSerializer().serialize(value)
    if "NS" in ours or "SS" in ours or "BS" in ours:  # set members in any order
        ((kind, members),) = ours.items()
        assert kind in theirs
        assert sorted(members) == sorted(theirs[kind])
    else:
        assert ours == theirs


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_read_back_as_boto3_reads_them(value: Any) -> None:
    wire = TypeSerializer().serialize(value)
    ours = dynamo.deserialize(wire)
    theirs = TypeDeserializer().deserialize(wire)
    assert ours == theirs
    assert _types(ours) == _types(theirs)


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        float("nan"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1.00000000000000000000000000000000000001"),
        Decimal("1E+200"),
        {1, "a"},
        object(),
        [1.0],
        {"k": 2.0},
    ],
    ids=repr,
)
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    with pytest.raises(Exception) as theirs:
        TypeSerializer().serialize(value)
    with pytest.raises(type(theirs.value)):
        dynamo.serialize(value)


def test_items_cross_between_the_resource_layer_and_the_table(aws_env: None) -> None:
    """An item the old code (boto3's resource `Table`) wrote reads back the same through
    `dynamo.Table`, and the other way round: numbers as Decimal, sets, binary, nested maps."""
    from chalicelib.adapters import aws

    item = {
        "PK": "VALUES#1",
        "SK": "X",
        "int": 42,
        "big": 10**30,
        "decimal": Decimal("-12.0625"),
        "flag": True,
        "none": None,
        "strings": {"a", "b"},
        "numbers": {1, Decimal("2.5")},
        "blobs": {b"\x00", b"\x01"},
        "blob": b"\xffraw",
        "list": [1, "two", [Decimal("3.5")], {"m": {"n": {"deep"}}}],
        "map": {"nested": {"again": {"value": 7, "empty": {}, "list": []}}},
    }
    resource = boto3.resource("dynamodb").Table("tether-test")
    table = aws.dynamodb_table("tether-test")

    resource.put_item(Item=item)
    read = table.get_item(Key={"PK": "VALUES#1", "SK": "X"}, ConsistentRead=True)["Item"]
    assert read == item
    assert isinstance(read["int"], Decimal)
    assert isinstance(read["map"]["nested"]["again"]["value"], Decimal)
    assert read == resource.get_item(Key={"PK": "VALUES#1", "SK": "X"})["Item"]

    table.put_item(Item={**item, "PK": "VALUES#2"})
    assert resource.get_item(Key={"PK": "VALUES#2", "SK": "X"})["Item"] == {**item, "PK": "VALUES#2"}
    [queried] = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": "VALUES#2"})["Items"]
    assert queried == {**item, "PK": "VALUES#2"}


def _types(value: Any) -> Any:
    """The value's shape with each leaf replaced by its type (bytes and boto3's Binary alike)."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    if isinstance(value, set):
        return {_types(v) for v in value}
    if isinstance(value, Binary | bytes):
        return bytes
    return type(value)
