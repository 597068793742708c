"""Lazily created, per-container AWS clients.

Nothing here runs at import time: the first call builds the client and later calls reuse it,
which keeps Lambda cold starts short and lets tests (moto) patch botocore first.

Clients are thread-safe and shared. boto3 resources are not: a DynamoDB `Table` keeps a
condition-expression builder whose placeholder counters are reset and advanced on every call, so
two threads using one `Table` at once can send an expression whose placeholders do not match
their values. Lambda runs one request at a time, but the local server answers on many threads,
so `dynamodb_table` hands each thread a `Table` of its own (built from one shared session, which
is cheap once the session has loaded its service models).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_stepfunctions.client import SFNClient

_lock = threading.RLock()  # re-entrant: a factory may ask for the shared session
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


def _session() -> boto3.session.Session:
    """The boto3 session every client and resource comes from (sessions are not thread-safe:
    callers build from it under `_build_lock`)."""

    def build() -> Any:
        import boto3

        return boto3.session.Session()

    session: boto3.session.Session = _get("session", build)
    return session


_build_lock = threading.Lock()


class _PerThreadTable:
    """Stands in for a `Table`: each attribute comes from the calling thread's own `Table`."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._local = threading.local()

    def _table(self) -> Any:
        table = getattr(self._local, "table", None)
        if table is None:
            session = _session()
            with _build_lock:
                table = session.resource("dynamodb").Table(self._table_name)
            self._local.table = table
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table(), name)

    def __repr__(self) -> str:
        return f"<per-thread dynamodb.Table {self._table_name!r}>"


def dynamodb_table(table_name: str) -> Table:
    """The DynamoDB table `table_name`, safe to share across threads (each uses its own resource)."""
    table = _get(f"dynamodb-table:{table_name}", lambda: _PerThreadTable(table_name))
    return cast("Table", table)


def secretsmanager() -> SecretsManagerClient:
    """The Secrets Manager client."""

    def build() -> Any:
        session = _session()
        with _build_lock:
            return session.client("secretsmanager")

    client: SecretsManagerClient = _get("secretsmanager", build)
    return client


def s3() -> S3Client:
    """The S3 client (large step outputs)."""

    def build() -> Any:
        session = _session()
        with _build_lock:
            return session.client("s3")

    client: S3Client = _get("s3", build)
    return client


def stepfunctions() -> SFNClient:
    """The Step Functions client."""

    def build() -> Any:
        session = _session()
        with _build_lock:
            return session.client("stepfunctions")

    client: SFNClient = _get("stepfunctions", build)
    return client


def stepfunctions_sync(read_timeout: float) -> SFNClient:
    """A Step Functions client for `StartSyncExecution`: it gives up after `read_timeout` seconds
    and never retries (a retry would start the run again)."""

    def build() -> Any:
        from botocore.config import Config

        session = _session()
        with _build_lock:
            return session.client(
                "stepfunctions",
                config=Config(read_timeout=read_timeout, connect_timeout=3, retries={"total_max_attempts": 1}),
            )

    client: SFNClient = _get(f"stepfunctions-sync:{read_timeout}", build)
    return client


def scheduler() -> Any:
    """The EventBridge Scheduler client."""

    def build() -> Any:
        session = _session()
        with _build_lock:
            return session.client("scheduler")

    return _get("scheduler", build)


def lambda_client() -> Any:
    """The Lambda client (the schedule dispatcher hands the rest of a long tick to itself)."""

    def build() -> Any:
        session = _session()
        with _build_lock:
            return session.client("lambda")

    return _get("lambda", build)


def reset_clients() -> None:
    """Drop cached clients (tests switch moto contexts between cases)."""
    with _lock:
        _clients.clear()
