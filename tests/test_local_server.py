"""The local server answers each connection on its own thread: requests handled at the same time
must each see their own request, never another's (headers carry user tokens and project keys)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from chalice.app import Chalice

from chalicelib.api.application import ThreadSafeChalice
from tether.local_server import LocalApiServer

HTTP_TIMEOUT = 10


def _echo_app(app_class: type[Chalice], both_arrived: threading.Barrier) -> Chalice:
    app = app_class(app_name="echo", configure_logs=False)

    @app.route("/echo")
    def echo() -> dict[str, str]:
        # Both requests are inside a view before either reads its request.
        both_arrived.wait(timeout=HTTP_TIMEOUT)
        request = app.current_request
        assert request is not None
        return {"caller": request.headers["x-caller"]}

    return app


def _concurrent_callers(app: Chalice) -> list[str]:
    server = LocalApiServer(app, "127.0.0.1", 0)
    server.start()
    try:

        def call(caller: str) -> str:
            response = requests.get(f"{server.url}/echo", headers={"X-Caller": caller}, timeout=HTTP_TIMEOUT)
            assert response.status_code == 200, response.text
            return str(response.json()["caller"])

        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(call, ["alice", "bob"]))
    finally:
        server.stop()


def test_concurrent_requests_each_see_their_own_request() -> None:
    assert _concurrent_callers(_echo_app(ThreadSafeChalice, threading.Barrier(2))) == ["alice", "bob"]


def test_plain_chalice_shares_the_current_request() -> None:
    """Why ThreadSafeChalice exists: with Chalice's shared attribute one caller gets the other's."""
    answers = _concurrent_callers(_echo_app(Chalice, threading.Barrier(2)))
    assert answers in (["alice", "alice"], ["bob", "bob"])


def test_the_app_is_thread_safe() -> None:
    from app import app

    assert isinstance(app, ThreadSafeChalice)


def test_threads_share_one_dynamodb_table_and_client(aws_env: None) -> None:
    """The table handle keeps no per-call state (expressions are strings, values are converted
    per call), so every thread of the local server shares it and its thread-safe client, and
    concurrent conditional writes through it each land with their own values."""
    from chalicelib.adapters import aws

    table = aws.dynamodb_table("tether-test")
    assert aws.dynamodb_table("tether-test") is table

    def write(i: int) -> tuple[object, object]:
        key = {"PK": f"THREADS#{i}", "SK": "X"}
        table.put_item(
            Item={**key, "n": i, "tags": {f"t{i}"}},
            ConditionExpression="attribute_not_exists(PK) AND attribute_not_exists(#n)",
            ExpressionAttributeNames={"#n": "n"},
        )
        table.update_item(
            Key=key,
            UpdateExpression="SET #n = #n + :one",
            ConditionExpression="#n = :before",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": 1, ":before": i},
        )
        return table.client, table.get_item(Key=key, ConsistentRead=True)["Item"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(write, range(40)))
    assert all(client is table.client for client, _ in results)
    assert [item for _, item in results] == [
        {"PK": f"THREADS#{i}", "SK": "X", "n": i + 1, "tags": {f"t{i}"}} for i in range(40)
    ]
