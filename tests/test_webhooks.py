"""Webhook-triggered workflows: the URL and secret, signed deliveries, the user they name,
idempotent delivery ids, secret rotation with a grace period, and every refusal."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.webhook_signatures import signature_header
from tests.conftest import Api, ProjectHandle, SecretWatch
from tests.connect_flow import connect
from tests.test_workflows import deploy, wait_for_run
from wpcom_sandbox.server import WordPressSandbox

HOOK_WORKFLOW: dict[str, Any] = {
    "name": "Order paid",
    "integration": "wordpress",
    "defaultEnabled": True,
    "trigger": {"type": "webhook", "userIdPath": "customer.id"},
    "steps": [
        {
            "id": "post",
            "type": "request",
            "method": "POST",
            "path": "v1.1/sites/{{ trigger.body.site }}/posts/new",
            "body": {"title": "Order {{ trigger.body.order }} paid"},
        }
    ],
}


# Headers a run must never see (credentials, proxies), beside one of the sender's own.
CREDENTIAL_HEADERS = {
    "Proxy-Authorization": "Basic c2VjcmV0",
    "X-Api-Key": "k-secret",
    "Cookie": "session=secret",
    "X-Forwarded-For": "10.0.0.1",
    "Forwarded": "for=10.0.0.1",
    "X-Shop-Topic": "orders/paid",
}


def create_hook(api: Api, project: ProjectHandle, watch: SecretWatch) -> tuple[str, str]:
    response = api.call(
        "PUT", f"/projects/{project.id}/workflows/order-paid", body=HOOK_WORKFLOW, headers=project.admin
    )
    assert response.status == 200, response.json
    created = response.json
    watch.add(created["webhookSecret"])
    watch.disclosed_by_design(response.body)
    return urlsplit(created["webhookUrl"]).path, created["webhookSecret"]


def deliver(
    api: Api,
    path: str,
    secret: str | None,
    body: Any,
    *,
    at: float | None = None,
    content_type: str = "application/json",
    **headers: str,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": content_type, **headers}
    if secret is not None:
        sent["X-Tether-Signature"] = signature_header(secret, int(at if at is not None else time.time()), raw)
    return api.call("POST", path, raw=raw, headers=sent)


def site_of(api: Api, project: ProjectHandle, user: str) -> int:
    me = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me/sites", token=project.token(user))
    site_id: int = me.json["sites"][0]["ID"]
    return site_id


def runs(api: Api, project: ProjectHandle) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = api.call("GET", f"/projects/{project.id}/runs", headers=project.admin).json["runs"]
    return listed


def test_a_signed_delivery_runs_the_workflow_for_the_user_in_the_body(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect(api, project, sandbox, "alice")
    path, secret = create_hook(api, project, secret_watch)
    assert path.startswith("/hooks/")
    assert len(path.removeprefix("/hooks/")) >= 22  # at least 128 random bits
    shown = api.call("GET", f"/projects/{project.id}/workflows/order-paid", headers=project.admin).json
    assert urlsplit(shown["webhookUrl"]).path == path
    assert "webhookSecret" not in shown  # shown once, at creation
    redeployed = deploy(api, project, "order-paid", HOOK_WORKFLOW)
    assert urlsplit(redeployed["webhookUrl"]).path == path
    assert "webhookSecret" not in redeployed
    site = site_of(api, project, "alice")
    answer = deliver(api, path, secret, {"customer": {"id": "alice"}, "order": 42, "site": site}, **CREDENTIAL_HEADERS)
    assert answer.status == 202, answer.json
    [run_id] = answer.json["runIds"]
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED", run
    assert run["userId"] == "alice"
    assert run["trigger"]["type"] == "webhook"
    assert run["trigger"]["body"]["order"] == 42
    seen = run["trigger"]["headers"]
    assert "x-tether-signature" not in seen
    assert not {name.lower() for name in CREDENTIAL_HEADERS if name != "X-Shop-Topic"} & set(seen), seen
    assert seen["x-shop-topic"] == "orders/paid"  # the sender's own headers pass
    assert run["steps"][0]["output"]["title"] == "Order 42 paid"


def test_bad_stale_or_missing_signatures_are_401_and_start_nothing(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect(api, project, sandbox, "alice")
    path, secret = create_hook(api, project, secret_watch)
    body = {"customer": {"id": "alice"}, "order": 1, "site": 1}
    cases = [
        (deliver(api, path, "whsec_wrong", body), "invalid_signature"),
        (deliver(api, path, secret, body, at=time.time() - 360), "signature_expired"),
        (deliver(api, path, secret, body, at=time.time() + 360), "signature_expired"),
        (deliver(api, path, None, body), "signature_missing"),
        (deliver(api, path, None, body, **{"X-Tether-Signature": "t=1,v1=zz"}), "invalid_signature"),
    ]
    raw = json.dumps(body).encode()
    tampered = api.call(
        "POST",
        path,
        raw=raw.replace(b"1", b"2"),
        headers={
            "Content-Type": "application/json",
            "X-Tether-Signature": signature_header(secret, int(time.time()), raw),
        },
    )
    cases.append((tampered, "invalid_signature"))
    for response, code in cases:
        assert response.status == 401, response.json
        assert response.json["code"] == code
    assert runs(api, project) == []


def test_unknown_hooks_missing_users_and_unrunnable_users(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    path, secret = create_hook(api, project, secret_watch)
    for unknown in ("/hooks/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/hooks/x", "/hooks/" + "A" * 70):
        response = deliver(api, unknown, secret, {})
        assert (response.status, response.json["code"]) == (404, "webhook_not_found")
    missing = deliver(api, path, secret, {"customer": {}})
    assert (missing.status, missing.json["code"]) == (400, "missing_user")
    for bad in ("bob\x00", "bob\x7f", "bob\x85", "x" * 257):
        refused = deliver(api, path, secret, {"customer": {"id": bad}})
        assert (refused.status, refused.json["code"]) == (400, "invalid_user_id"), bad
    nobody = deliver(api, path, secret, {"customer": {"id": "nobody"}})
    assert nobody.status == 202
    assert nobody.json == {"runIds": [], "skipped": "integration_not_connected"}
    connect(api, project, sandbox, "bob")
    api.call("DELETE", f"/projects/{project.id}/sdk/workflows/order-paid", token=project.token("bob"))
    off = deliver(api, path, secret, {"customer": {"id": "bob"}})
    assert off.json == {"runIds": [], "skipped": "workflow_not_enabled"}
    # The header names the user when the body does not; form bodies work too.
    api.call("POST", f"/projects/{project.id}/sdk/workflows/order-paid", token=project.token("bob"))
    site = site_of(api, project, "bob")
    form = f"order=7&site={site}".encode()
    by_header = deliver(
        api, path, secret, form, content_type="application/x-www-form-urlencoded", **{"X-Tether-User-Id": "bob"}
    )
    assert by_header.status == 202, by_header.json
    run = wait_for_run(api, project, by_header.json["runIds"][0])
    assert run["userId"] == "bob"
    assert run["steps"][0]["output"]["title"] == "Order 7 paid"
    weird = deliver(api, path, secret, b"<xml/>", content_type="application/xml", **{"X-Tether-User-Id": "bob"})
    assert weird.status == 415
    huge = deliver(api, path, secret, b"x" * 5_000_000, content_type="application/json")
    assert huge.status == 413


def test_the_same_delivery_id_twice_at_once_starts_one_run(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect(api, project, sandbox, "alice")
    path, secret = create_hook(api, project, secret_watch)
    body = {"customer": {"id": "alice"}, "order": 9, "site": site_of(api, project, "alice")}
    answers: list[Any] = []
    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        answers.append(deliver(api, path, secret, body, **{"X-Tether-Delivery-Id": "evt_1"}))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status for a in answers] == [202, 202]
    assert answers[0].json["runIds"] == answers[1].json["runIds"]
    again = deliver(api, path, secret, body, **{"X-Tether-Delivery-Id": "evt_1"})
    assert again.json["runIds"] == answers[0].json["runIds"]
    wait_for_run(api, project, again.json["runIds"][0])
    assert len(runs(api, project)) == 1


def test_a_rotated_secret_keeps_the_old_one_during_the_grace_period_only(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    from chalicelib.wiring import get_services

    path, old = create_hook(api, project, secret_watch)
    rotate = f"/projects/{project.id}/workflows/order-paid/webhook-secret"
    rotated = api.call("POST", rotate, body={"graceSeconds": 600}, headers=project.admin)
    assert rotated.status == 200, rotated.json
    new = rotated.json["webhookSecret"]
    secret_watch.add(new)
    secret_watch.disclosed_by_design(rotated.body)
    assert new != old
    assert urlsplit(rotated.json["webhookUrl"]).path == path
    body = {"customer": {"id": "nobody"}}
    assert deliver(api, path, old, body).status == 202
    assert deliver(api, path, new, body).status == 202
    later = time.time() + 601
    get_services().clock = lambda: later
    assert deliver(api, path, old, body, at=later).status == 401
    assert deliver(api, path, new, body, at=later).status == 202
    refused = api.call("POST", rotate, body={"graceSeconds": -1}, headers=project.admin)
    assert (refused.status, refused.json["code"]) == (400, "invalid_field")
    not_hook = deploy(
        api,
        project,
        "plain",
        {**HOOK_WORKFLOW, "trigger": {"type": "app_event", "event": "x"}},
    )
    assert "webhookUrl" not in not_hook
    plain = api.call("POST", f"/projects/{project.id}/workflows/plain/webhook-secret", headers=project.admin)
    assert (plain.status, plain.json["code"]) == (400, "not_a_webhook_workflow")


def test_deleting_the_workflow_or_its_webhook_trigger_retires_the_url(
    engine: None, api: Api, project: ProjectHandle, secret_watch: SecretWatch
) -> None:
    path, secret = create_hook(api, project, secret_watch)
    deploy(api, project, "order-paid", {**HOOK_WORKFLOW, "trigger": {"type": "app_event", "event": "x"}})
    assert deliver(api, path, secret, {"customer": {"id": "a"}}).status == 404
    path, secret = create_hook(api, project, secret_watch)
    assert api.call("DELETE", f"/projects/{project.id}/workflows/order-paid", headers=project.admin).status == 204
    assert deliver(api, path, secret, {"customer": {"id": "a"}}).status == 404


def test_a_delivery_too_large_for_a_run_is_a_413_and_starts_nothing(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, secret_watch: SecretWatch
) -> None:
    connect(api, project, sandbox, "alice")
    path, secret = create_hook(api, project, secret_watch)
    answer = deliver(api, path, secret, {"customer": {"id": "alice"}, "blob": "x" * 300_000})
    assert (answer.status, answer.json["code"]) == (413, "payload_too_large")
    assert runs(api, project) == []


def test_a_webhook_deploy_that_fails_leaves_no_secret_behind(
    engine: None, api: Api, project: ProjectHandle, monkeypatch: Any
) -> None:
    import boto3

    from chalicelib.adapters.state_machines import StateMachines
    from chalicelib.domain.errors import UpstreamError
    from chalicelib.wiring import get_services

    def refuse(*_: Any, **__: Any) -> str:
        raise UpstreamError("refused", code="workflow_engine_error")

    monkeypatch.setattr(StateMachines, "create", refuse)
    failed = api.call("PUT", f"/projects/{project.id}/workflows/order-paid", body=HOOK_WORKFLOW, headers=project.admin)
    assert failed.status == 502
    table = boto3.resource("dynamodb").Table(get_services().settings.table_name)
    items = table.scan()["Items"]
    assert not [item for item in items if str(item["PK"]).startswith("WEBHOOK#")]
