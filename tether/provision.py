"""Creates Tether's AWS resources (table, keyring) in the configured account or endpoint."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.config import Settings
from chalicelib.services.data_keys import ensure_keyring
from chalicelib.wiring import get_services

TABLE_ATTRIBUTES = [keys.PK, keys.SK, keys.GSI1PK, keys.GSI1SK]


def table_definition(table_name: str) -> dict[str, Any]:
    """Arguments of `CreateTable` for Tether's single table (on-demand billing)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in TABLE_ATTRIBUTES],
        "KeySchema": [
            {"AttributeName": keys.PK, "KeyType": "HASH"},
            {"AttributeName": keys.SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": keys.GSI1,
                "KeySchema": [
                    {"AttributeName": keys.GSI1PK, "KeyType": "HASH"},
                    {"AttributeName": keys.GSI1SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def ensure_table(settings: Settings) -> bool:
    """Create the table (and turn on its TTL) unless it exists; True when it was created."""
    import boto3

    client = boto3.client("dynamodb")
    try:
        client.create_table(**table_definition(settings.table_name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceInUseException":
            return False
        raise
    client.get_waiter("table_exists").wait(TableName=settings.table_name)
    client.update_time_to_live(
        TableName=settings.table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": keys.TTL_ATTRIBUTE},
    )
    return True


class StageNotDeployed(Exception):
    """The stage's table does not exist, and the caller may not create it (a stack owns it)."""


def ensure_deployment(*, create_table: bool = True) -> None:
    """Make sure the table and the data-encryption keyring exist.

    With `create_table=False` (the operator's CLI against AWS, where the deploy stack owns the
    table) a missing table raises `StageNotDeployed` instead of being created."""
    services = get_services()
    if create_table:
        ensure_table(services.settings)
        ensure_outputs_bucket(services.settings)
    elif not table_exists(services.settings.table_name):
        raise StageNotDeployed(services.settings.table_name)
    ensure_keyring(services.secrets, services.settings.data_keys_secret_id)


def table_exists(table_name: str) -> bool:
    """Whether the DynamoDB table exists in the configured account and region."""
    import boto3

    try:
        boto3.client("dynamodb").describe_table(TableName=table_name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def ensure_outputs_bucket(settings: Settings) -> None:
    """Create the private bucket for large step outputs unless it exists (the local stack; a
    deployed stack's template creates it)."""
    import boto3

    client = boto3.client("s3")
    try:
        client.create_bucket(Bucket=settings.outputs_bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def store_dev_keys(client_id: str, client_secret: str) -> None:
    """Store the deployment's development OAuth keys for WordPress.com."""
    services = get_services()
    services.secrets.put(
        services.settings.dev_keys_secret_id,
        json.dumps({"wordpress": {"clientId": client_id, "clientSecret": client_secret}}),
    )
