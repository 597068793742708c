"""Lazily created, per-container AWS clients.

Nothing here runs at import time: the first call builds the client and later calls reuse it,
which keeps Lambda cold starts short and lets tests (moto) patch botocore first.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def _get(name: str, factory: Any) -> Any:
    client = _clients.get(name)
    if client is None:
        with _lock:
            client = _clients.get(name)
            if client is None:
                client = factory()
                _clients[name] = client
    return client


def dynamodb_table(table_name: str) -> Table:
    """The DynamoDB table resource for `table_name`."""

    def build() -> Any:
        import boto3

        return boto3.resource("dynamodb").Table(table_name)

    table: Table = _get(f"dynamodb-table:{table_name}", build)
    return table


def secretsmanager() -> SecretsManagerClient:
    """The Secrets Manager client."""

    def build() -> Any:
        import boto3

        return boto3.client("secretsmanager")

    client: SecretsManagerClient = _get("secretsmanager", build)
    return client


def reset_clients() -> None:
    """Drop cached clients (tests switch moto contexts between cases)."""
    with _lock:
        _clients.clear()
