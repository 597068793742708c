"""The proxy route against misbehaving upstreams (a loopback fault server) and the sandbox: broken
answers are a 502 JSON error, retried only for methods safe to repeat; the caller's
Accept-Encoding never reaches upstream; the deadline holds while the body is read; caller headers
pass by an allow-list; an inactive integration does not proxy; and the token that reaches
WordPress.com is the stored one, never the end user's JWT."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.fault_server import BROKEN_ANSWERS, FaultServer, Received, gzipped, head, json_ok, respond
from tests.fault_server import send as send_raw
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox
from wpcom_sandbox.state import authorization_fingerprint


def proxy(api: Api, project: ProjectHandle, path: str, **kwargs: Any) -> Any:
    return api.call(
        kwargs.pop("method", "GET"),
        f"/projects/{project.id}/sdk/proxy/wordpress/{path}",
        token=project.token("alice"),
        **kwargs,
    )


@pytest.fixture
def connected(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> str:
    """Alice has connected her WordPress.com account (alicebaker); returns the credential id."""
    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    sandbox.state.clear_recorded_requests()
    return credential_id


def no_sleep() -> list[float]:
    """Let the proxy retry without sleeping (the deadline stays real); returns the waits it chose."""
    from chalicelib.adapters.upstream import Clock
    from chalicelib.wiring import get_services

    slept: list[float] = []
    get_services().upstream_clock = Clock(sleep=slept.append)
    return slept


def point_proxy_at(monkeypatch: pytest.MonkeyPatch, origin: str, **env: str) -> list[float]:
    """Send proxied calls to `origin` from now on (the credential stays the one stored)."""
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_WPCOM_ORIGIN", origin)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_services()
    return no_sleep()


# --- broken upstream answers ----------------------------------------------------------------------

ROUTE_CASES = ["crlf-folded-header", "lf-folded-header", "bad-gzip", "bad-deflate", "truncated-gzip", "reset-mid-body"]


@pytest.mark.parametrize("case", ROUTE_CASES)
@pytest.mark.parametrize(("method", "attempts"), [("GET", 3), ("PUT", 3), ("POST", 1), ("PATCH", 1), ("DELETE", 1)])
def test_broken_upstream_answer_is_a_502_json_error(
    api: Api,
    project: ProjectHandle,
    connected: str,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    method: str,
    attempts: int,
) -> None:
    with FaultServer(BROKEN_ANSWERS[case]) as server:
        point_proxy_at(monkeypatch, server.origin)
        response = proxy(api, project, "v1.1/me", method=method, raw=b"{}" if method != "GET" else None)
    assert_refused(response, status=502, code="upstream_bad_response")
    assert server.connections == attempts


def test_get_recovers_when_the_retry_gets_a_good_answer(
    api: Api, project: ProjectHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultServer(BROKEN_ANSWERS["reset-mid-body"], json_ok('{"ID": 1}')) as server:
        slept = point_proxy_at(monkeypatch, server.origin)
        response = proxy(api, project, "v1.1/me")
    assert response.status == 200
    assert response.json == {"ID": 1}
    assert len(slept) == 1


def test_streamed_oversize_answer_is_refused(
    api: Api, project: ProjectHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Content-Length: only counting the bytes as they arrive can catch it.
    answer = send_raw(head(200, [("Content-Type", "application/json")]) + b'"' + b"x" * 5000 + b'"')
    with FaultServer(answer) as server:
        point_proxy_at(monkeypatch, server.origin, TETHER_MAX_PROXY_RESPONSE_BYTES="1000")
        response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=502, code="upstream_response_too_large")


# --- Accept-Encoding ----------------------------------------------------------------------------


def answer_by_accept_encoding(conn: socket.socket, request: Received, stop: threading.Event) -> None:
    """Like a CDN: brotli when offered (opaque bytes here), else gzip, else identity."""
    offered = {coding.split(";")[0].strip() for coding in request.headers.get("accept-encoding", "").split(",")}
    body = b'{"ID": 42, "display_name": "Alice Baker"}'
    if "br" in offered:
        action = respond(200, b"\x1b\x29\x00\xf8brotli-bytes", [("Content-Encoding", "br")])
    elif "gzip" in offered:
        action = respond(200, gzipped(body), [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
    else:
        action = respond(200, body, [("Content-Type", "application/json")])
    action(conn, request, stop)


def test_callers_accept_encoding_is_not_forwarded(
    api: Api, project: ProjectHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultServer(answer_by_accept_encoding) as server:
        point_proxy_at(monkeypatch, server.origin)
        response = proxy(api, project, "v1.1/me", headers={"Accept-Encoding": "br, zstd"})
    assert response.status == 200, response.body
    assert response.json == {"ID": 42, "display_name": "Alice Baker"}
    assert "content-encoding" not in {name.lower() for name in response.headers}
    [received] = server.received
    assert received.headers["accept-encoding"] == "gzip, deflate"


# --- the deadline covers the body ----------------------------------------------------------------


def test_slow_drip_upstream_ends_in_a_504(
    api: Api, project: ProjectHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fault_server import drip

    # Headers at once, then one byte every 0.2 s: each read succeeds, the whole body would take 40 s.
    answer = drip(head(200, [("Content-Type", "application/json"), ("Content-Length", "200")]), b"x" * 200, 0.2)
    with FaultServer(answer) as server:
        point_proxy_at(monkeypatch, server.origin, TETHER_PROXY_DEADLINE_SECONDS="1.5")
        started = time.monotonic()
        response = proxy(api, project, "v1.1/me")
        elapsed = time.monotonic() - started
    assert_refused(response, status=504, code="upstream_timeout")
    assert elapsed < 15  # generous: only "not after the body", i.e. far below 40 s
    assert server.connections == 1


# --- what is retried -------------------------------------------------------------------------------


@pytest.mark.parametrize("override", ["POST", "post", "Patch", "DELETE"])
def test_method_override_in_the_query_counts_as_that_method(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, override: str
) -> None:
    no_sleep()
    sandbox.state.fail_next("/rest/v1.1/me", 503, {"error": "busy"})
    response = proxy(api, project, f"v1.1/me?_method={override}")
    assert response.status == 503
    assert len(sandbox.state.recorded_requests()) == 1


@pytest.mark.parametrize("query", ["", "?_method=GET", "?_method=put"])
def test_get_is_retried_unless_overridden_to_an_unsafe_method(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, query: str
) -> None:
    slept = no_sleep()
    sandbox.state.fail_next("/rest/v1.1/me", 503, {"error": "busy"})
    response = proxy(api, project, f"v1.1/me{query}")
    assert response.status == 200
    assert len(sandbox.state.recorded_requests()) == 2
    assert len(slept) == 1


def test_post_whose_connection_is_refused_is_retried(
    api: Api, project: ProjectHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.upstream import Clock
    from chalicelib.wiring import get_services

    with FaultServer(json_ok('{"ID": 7}'), listening=False) as server:
        point_proxy_at(monkeypatch, server.origin)
        get_services().upstream_clock = Clock(sleep=lambda seconds: server.listen())
        response = proxy(api, project, "sites/1/posts/new", method="POST", body={"title": "t"})
    assert response.status == 200
    assert [r.method for r in server.received] == ["POST"]


# --- caller headers: an allow-list -------------------------------------------------------------------


def test_caller_headers_pass_by_allow_list(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    sent = {
        "Accept": "application/json",
        "Accept-Language": "fr",
        "User-Agent": "my-app/1.0",
        "If-None-Match": '"abc"',
        "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
        "X-HTTP-Method-Override": "DELETE",
        "X-Original-URL": "/wp-admin/",
        "X-Rewrite-URL": "/wp-admin/",
        "True-Client-IP": "203.0.113.9",
        "X-Forwarded-For": "203.0.113.9",
        "X-Custom": "anything",
        "Idempotency-Key": "k-1",
        "Cookie": "wordpress_logged_in=1",
        "Accept-Encoding": "br",
        "Connection": "keep-alive, Accept-Language",
    }
    response = proxy(api, project, "v1.1/me", headers=sent)
    assert response.status == 200, response.body
    [request] = sandbox.state.recorded_requests()
    received = {name.lower(): value for name, value in request.headers.items()}
    assert received["accept"] == "application/json"
    assert received["user-agent"] == "my-app/1.0"
    assert received["if-none-match"] == '"abc"'
    assert received["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert received["accept-encoding"] == "gzip, deflate"
    for dropped in (
        "accept-language",  # named in Connection: hop-by-hop for this request
        "x-http-method-override",
        "x-original-url",
        "x-rewrite-url",
        "true-client-ip",
        "x-forwarded-for",
        "x-custom",
        "idempotency-key",
        "cookie",
    ):
        assert dropped not in received, dropped


@pytest.mark.parametrize("value", ["a\x01b", "a\x7fb"])
def test_control_characters_in_a_forwarded_header_are_a_400(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, value: str
) -> None:
    response = proxy(api, project, "v1.1/me", headers={"Accept-Language": value})
    assert_refused(response, status=400, code="invalid_header")
    assert sandbox.state.recorded_requests() == []


# --- an inactive integration ----------------------------------------------------------------------


def test_inactive_integration_does_not_proxy(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    switched_off = api.call(
        "PUT",
        f"/projects/{project.id}/integrations/wordpress",
        headers=project.admin,
        body={"clientId": None, "clientSecret": None, "scopes": [], "active": False},
    )
    assert switched_off.status == 200, switched_off.body
    from chalicelib.wiring import reset_services

    reset_services()  # another container, without the cached project configuration
    response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=403, code="integration_inactive")
    assert sandbox.state.recorded_requests() == []


# --- which token reaches WordPress.com ----------------------------------------------------------------


def test_upstream_receives_the_stored_token_never_the_users_jwt(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    [issued] = sandbox.state.issued_tokens()
    user_jwt = project.token("alice")
    response = api.call(
        "GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", headers={"Authorization": f"Bearer {user_jwt}"}
    )
    assert response.status == 200, response.body
    [request] = sandbox.state.recorded_requests()
    assert request.auth_fingerprint == authorization_fingerprint(f"Bearer {issued.token}")
    assert request.auth_fingerprint != authorization_fingerprint(f"Bearer {user_jwt}")
    assert request.headers["Authorization"] == "Bearer <redacted>"


@pytest.mark.parametrize("value", ["\ud800", "a\udcffb"])
def test_proxy_request_refuses_header_text_without_a_utf8_form(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, value: str
) -> None:
    """The route refuses such headers before the proxy; other callers of `proxy_request` (workflow
    steps) get the same 400 instead of an encoding error."""
    from chalicelib.domain.errors import BadRequest
    from chalicelib.services.proxy import ProxyCall, proxy_request
    from chalicelib.services.user_tokens import VerifiedUser
    from chalicelib.wiring import get_services

    services = get_services()
    config = services.project_configs.get(project.id)
    assert config is not None
    call = ProxyCall("wordpress", ["v1.1", "me"], "GET", [], {"Accept-Language": value}, None, None)
    with pytest.raises(BadRequest) as refused:
        proxy_request(services.settings, services.credentials, config, VerifiedUser(project.id, "alice", {}), call, 0.0)
    assert refused.value.code == "invalid_header"
    assert sandbox.state.recorded_requests() == []
