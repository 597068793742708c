"""Lazily created, per-container AWS clients.

Nothing here runs at import time: the first call builds the client and later calls reuse it,
which keeps Lambda cold starts short and lets tests (moto) patch botocore first.

Clients come from one botocore session, not from boto3: `import boto3` alone costs ~150 ms of a
cold start (it imports s3transfer), and the code needs nothing boto3 adds to botocore's clients.
DynamoDB is used through its low-level client (`dynamo.Table` converts values). Clients are
thread-safe and shared by every thread; building one from the session is serialised.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_stepfunctions.client import SFNClient

    from chalicelib.adapters.dynamo import Table

_lock = threading.RLock()  # re-entrant: a factory asks for the shared session
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


def _session() -> botocore.session.Session:
    """The botocore session every client comes from. Region and credentials come from the
    environment, as boto3's would. Sessions are not thread-safe: clients are built from it only
    inside `_get`'s factories, which run under `_lock`."""

    def build() -> Any:
        import botocore.session

        return botocore.session.get_session()

    session: botocore.session.Session = _get("session", build)
    return session


def dynamodb() -> DynamoDBClient:
    """The low-level DynamoDB client."""
    client: DynamoDBClient = _get("dynamodb", lambda: _session().create_client("dynamodb"))
    return client


def dynamodb_table(table_name: str) -> Table:
    """The DynamoDB table `table_name` (shared by every thread; its client is made on first use)."""

    def build() -> Table:
        from chalicelib.adapters.dynamo import Table

        return Table(table_name, dynamodb)

    table: Table = _get(f"dynamodb-table:{table_name}", build)
    return table


def secretsmanager() -> SecretsManagerClient:
    """The Secrets Manager client."""
    client: SecretsManagerClient = _get("secretsmanager", lambda: _session().create_client("secretsmanager"))
    return client


def s3() -> S3Client:
    """The S3 client (large step outputs)."""
    client: S3Client = _get("s3", lambda: _session().create_client("s3"))
    return client


def stepfunctions() -> SFNClient:
    """The Step Functions client."""
    client: SFNClient = _get("stepfunctions", lambda: _session().create_client("stepfunctions"))
    return client


def stepfunctions_sync(read_timeout: float) -> SFNClient:
    """A Step Functions client for `StartSyncExecution`: it gives up after `read_timeout` seconds
    and never retries (a retry would start the run again)."""

    def build() -> Any:
        from botocore.config import Config

        config = Config(read_timeout=read_timeout, connect_timeout=3, retries={"total_max_attempts": 1})
        return _session().create_client("stepfunctions", config=config)

    client: SFNClient = _get(f"stepfunctions-sync:{read_timeout}", build)
    return client


def scheduler() -> Any:
    """The EventBridge Scheduler client."""
    return _get("scheduler", lambda: _session().create_client("scheduler"))


def lambda_client() -> Any:
    """The Lambda client (the schedule dispatcher hands the rest of a long tick to itself)."""
    return _get("lambda", lambda: _session().create_client("lambda"))


def reset_clients() -> None:
    """Drop cached clients (tests switch moto contexts between cases)."""
    with _lock:
        _clients.clear()
