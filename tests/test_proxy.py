"""The proxy: namespace mapping, token injection, SSRF refusals, retries, deadlines and
credential selection, against the WordPress.com sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox


def proxy(api: Api, project: ProjectHandle, path: str, user: str = "alice", **kwargs: Any) -> Any:
    return api.call(
        kwargs.pop("method", "GET"),
        f"/projects/{project.id}/sdk/proxy/wordpress/{path}",
        token=project.token(user),
        **kwargs,
    )


@pytest.fixture
def connected(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> str:
    """Alice has connected her WordPress.com account (alicebaker); returns the credential id."""
    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    sandbox.state.clear_recorded_requests()
    return credential_id


def upstream_paths(sandbox: WordPressSandbox) -> list[str]:
    return [r.path for r in sandbox.state.recorded_requests()]


def test_get_me_sites_through_the_proxy(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    response = proxy(
        api, project, "v1.1/me/sites", headers={"Cookie": "session=abc", "X-Custom": "dropped", "Accept-Language": "fr"}
    )
    assert response.status == 200, response.body
    sites = response.json["sites"]
    assert sites
    assert all(site["ID"] for site in sites)
    [request] = sandbox.state.recorded_requests()
    assert request.path == "/rest/v1.1/me/sites"
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == "Bearer <redacted>"
    assert "cookie" not in headers
    assert headers["host"] == sandbox.origin.removeprefix("http://")
    assert headers["accept-language"] == "fr"
    assert "x-custom" not in headers
    assert not any(name.startswith("x-paragon") for name in headers)


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("me", "/rest/v1.1/me"),
        ("v1/me", "/rest/v1/me"),
        ("v1.2/me", "/rest/v1.2/me"),
        ("v1.3/me", "/rest/v1.3/me"),
        ("wp/v2/sites/1/posts", "/wp/v2/sites/1/posts"),
        ("wpcom/v2/sites/1/stats", "/wpcom/v2/sites/1/stats"),
        ("sites/190000101/posts/slug:hello-world", "/rest/v1.1/sites/190000101/posts/slug:hello-world"),
    ],
)
def test_namespace_mapping(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, path: str, upstream: str
) -> None:
    proxy(api, project, path)
    assert upstream_paths(sandbox) == [upstream]


def test_query_string_passes_through(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    response = proxy(api, project, "v1.1/me/sites?fields=ID,name&site_visibility=all")
    assert response.status == 200
    assert set(response.json["sites"][0]) == {"ID", "name"}
    [request] = sandbox.state.recorded_requests()
    assert request.query == {"fields": "ID,name", "site_visibility": "all"}


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fadmin",
        "v1.1/../../evil",
        "v1.1/%2e%2e/me",
        "v1.1/%2E%2E/%2E%2E/x",
        "/evil.com/x",
        "%2F%2Fevil.com/x",
        "https:/evil.com",
        "https:%2F%2Fevil.com/x",
        "v1.1/me@evil.com",
        "v1.1/me%40evil.com",
        "v1.1/me%5Cevil",
        "v1.1/me%0D%0AHost:%20evil.com",
        "v1.1/me%00",
        "v1.1/%252e%252e/me",
    ],
)
def test_path_escapes_are_refused_without_calling_upstream(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, path: str
) -> None:
    response = proxy(api, project, path)
    assert_refused(response, status=400, code="invalid_proxy_path")
    assert upstream_paths(sandbox) == []


def test_not_connected_is_a_422(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    response = proxy(api, project, "v1.1/me", user="nobody")
    assert_refused(response, status=422, code="integration_not_connected")
    assert upstream_paths(sandbox) == []


def test_another_users_credential_is_a_404_without_upstream_call(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    response = proxy(api, project, "v1.1/me", user="mallory", headers={"X-Paragon-Credential": connected})
    assert_refused(response, status=404, code="credential_not_found")
    assert upstream_paths(sandbox) == []


def test_x_paragon_credential_selects_the_account(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    second = connect_flow.connect(
        api, project, sandbox, "alice", sandbox_user="bobortega", install_options='{"allowMultipleCredentials": true}'
    )
    default = proxy(api, project, "v1.1/me")
    chosen = proxy(api, project, "v1.1/me", headers={"X-Paragon-Credential": second})
    assert default.json["username"] == "alicebaker"
    assert chosen.json["username"] == "bobortega"


def test_get_retried_after_two_500s(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, secret_watch: Any
) -> None:
    sandbox.state.fail_next("/rest/v1.1/me", 500, {"error": "oops"}, count=2)
    response = proxy(api, project, "v1.1/me")
    assert response.status == 200
    assert upstream_paths(sandbox) == ["/rest/v1.1/me"] * 3
    retries = [line for line in secret_watch.seen if "upstream answered 500: retrying" in line]
    assert len(retries) == 2


def test_post_without_idempotency_key_is_not_retried(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    sandbox.state.fail_next("/rest/v1.1/sites", 500, {"error": "oops", "message": "down"})
    response = proxy(api, project, "sites/190000101/posts/new", method="POST", body={"title": "x"})
    assert response.status == 500
    assert response.json["error"] == "oops"
    assert len(upstream_paths(sandbox)) == 1


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Idempotency-Key"])
def test_post_with_idempotency_key_is_still_not_retried(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, header: str
) -> None:
    # WordPress.com ignores idempotency keys, so a key does not make a repeat safe.
    sandbox.state.fail_next("/rest/v1.1/me", 503, {"error": "busy"})
    response = proxy(api, project, "v1.1/me", method="POST", body={}, headers={header: "k-1"})
    assert response.status == 503
    assert response.json == {"error": "busy"}
    [request] = sandbox.state.recorded_requests()
    assert header.lower() not in {name.lower() for name in request.headers}


def test_limit_reached_page_is_throttling(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    page = "<html><body><h1>Limit reached</h1></body></html>"
    sandbox.state.fail_next("/rest/v1.1/me", 200, page, content_type="text/html", count=5)
    response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=429, code="upstream_rate_limited")
    assert len(upstream_paths(sandbox)) == 3
    assert response.headers["Retry-After"] == "30"  # the page says nothing of when


@pytest.mark.parametrize(("asked", "told"), [("120", "120"), ("0", "1"), ("2.5", None), ("999999", "3600")])
def test_a_throttled_proxy_call_passes_on_how_long_to_wait(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, asked: str, told: str | None
) -> None:
    from chalicelib.adapters.upstream import Clock
    from chalicelib.wiring import get_services

    get_services().upstream_clock = Clock(sleep=lambda seconds: None)
    sandbox.state.fail_next("/rest/v1.1/me", 429, {"error": "rate_limited"}, headers={"Retry-After": asked}, count=5)
    response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=429, code="upstream_rate_limited")
    # An unreadable Retry-After ("2.5" is neither seconds nor a date) gets the default.
    assert response.headers["Retry-After"] == (told or "30")


def test_hanging_upstream_ends_in_a_504_before_the_deadline(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_PROXY_DEADLINE_SECONDS", "1.5")
    reset_services()
    sandbox.state.fail_next("/rest/v1.1/me", 200, {"late": True}, delay=5.0, count=5)
    started = time.monotonic()
    response = proxy(api, project, "v1.1/me")
    elapsed = time.monotonic() - started
    assert_refused(response, status=504, code="upstream_timeout")
    assert elapsed < 4.0


def test_oversized_upstream_response_is_a_502(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_MAX_PROXY_RESPONSE_BYTES", "200")
    reset_services()
    sandbox.state.fail_next("/rest/v1.1/me", 200, {"blob": "x" * 500})
    response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=502, code="upstream_response_too_large")


def test_revoked_token_marks_the_credential_invalid(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    [issued] = sandbox.state.issued_tokens()
    sandbox.state.revoke_token(issued.token)
    response = proxy(api, project, "v1.1/me")
    assert_refused(response, status=422, code="integration_reconnect_required")
    me = api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token("alice")).json
    assert me["integrations"]["wordpress"]["credentialStatus"] == "INVALID"
    # Once INVALID, the proxy refuses without calling upstream again.
    sandbox.state.clear_recorded_requests()
    again = proxy(api, project, "v1.1/me")
    assert_refused(again, status=422, code="integration_reconnect_required")
    assert upstream_paths(sandbox) == []


def test_proxy_needs_a_user_token(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    response = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me")
    assert_refused(response, status=401)


def test_oversized_request_body(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_MAX_PROXY_BODY_BYTES", "100")
    reset_services()
    response = proxy(api, project, "v1.1/me", method="POST", raw="x" * 200)
    assert_refused(response, status=413)
    assert upstream_paths(sandbox) == []


def test_deep_paths_are_routed(api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str) -> None:
    deep = "/".join(["a"] * 15)
    proxy(api, project, f"v1.1/{deep}")
    assert upstream_paths(sandbox) == [f"/rest/v1.1/{deep}"]


def test_429_with_retry_after_is_retried_once(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    from chalicelib.adapters.upstream import Clock
    from chalicelib.wiring import get_services

    slept: list[float] = []
    get_services().upstream_clock = Clock(sleep=slept.append)
    sandbox.state.fail_next("/rest/v1.1/me", 429, {"error": "rate_limited"}, headers={"Retry-After": "1"})
    response = proxy(api, project, "v1.1/me")
    assert response.status == 200
    assert upstream_paths(sandbox) == ["/rest/v1.1/me"] * 2
    assert slept == [1.0]


def test_response_headers_pass_through_without_hop_by_hop_or_cookies(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    sandbox.state.fail_next(
        "/rest/v1.1/me",
        200,
        {"ok": True},
        headers={
            "Set-Cookie": "wpcom=secret",
            "X-Wpcom-Request": "abc",
            "Keep-Alive": "timeout=5",
            "Access-Control-Allow-Origin": "https://evil.example",
            "X-Tether-Error": "spoofed",
        },
    )
    response = proxy(api, project, "v1.1/me")
    headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["x-wpcom-request"] == "abc"
    assert "set-cookie" not in headers
    assert "keep-alive" not in headers
    assert "x-tether-error" not in headers
    assert headers["access-control-allow-origin"] == "*"
    assert response.json == {"ok": True}


def test_seed_snippets_create_a_post_with_tag_and_category(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    sites = proxy(api, project, "v1.1/me/sites").json["sites"]
    site_id = sites[0]["ID"]
    post_id = proxy(api, project, f"v1.1/sites/{site_id}/posts?number=1").json["posts"][0]["ID"]
    likes = proxy(api, project, f"v1.1/sites/{site_id}/posts/{post_id}/likes")
    assert likes.status == 200
    assert likes.json["post_ID"] == post_id
    created = proxy(
        api,
        project,
        f"sites/{site_id}/posts/new",
        method="POST",
        raw='{"title": "My Post", "content": "This is my post", "tags": "api_posts", "categories": "API"}',
        headers={"Content-Type": "auto"},
    )
    assert created.status == 200, created.body
    fetched = proxy(api, project, f"sites/{site_id}/posts/{created.json['ID']}").json
    assert fetched["title"] == "My Post"
    assert "api_posts" in fetched["tags"]
    assert "API" in fetched["categories"]


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea7d6a4a40000000049454e44ae426082"
)


def test_media_upload_and_exact_image_bytes(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    site_id = proxy(api, project, "v1.1/me/sites").json["sites"][0]["ID"]
    boundary = "tetherboundary42"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media[]"; filename="dot.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG_1X1
        + f"\r\n--{boundary}--\r\n".encode()
    )
    uploaded = proxy(
        api,
        project,
        f"v1.1/sites/{site_id}/media/new",
        method="POST",
        raw=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert uploaded.status == 200, uploaded.body
    [media] = uploaded.json["media"]
    assert media["mime_type"] == "image/png"
    assert (media["width"], media["height"]) == (1, 1)
    image = proxy(api, project, f"v1.1/sites/{site_id}/media/{media['ID']}/file", headers={"Accept": "image/*"})
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.body == PNG_1X1


def test_proxy_cors_allows_the_sdk_headers(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token())
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    expected = {"authorization", "content-type", "x-paragon-sdk-version", "x-paragon-credential", "idempotency-key"}
    assert expected <= allowed
    assert all(len(h) > 1 for h in allowed)
    assert response.headers["Access-Control-Expose-Headers"] == "X-Tether-Error,Retry-After"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "auto"])
def test_form_body_creates_a_post(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, content_type: str
) -> None:
    response = proxy(
        api,
        project,
        "sites/190000101/posts/new",
        method="POST",
        raw="title=Form+post&content=Sent+as+a+form&tags=a%2Cb",
        headers={"Content-Type": content_type},
    )
    assert response.status == 200, response.body
    assert response.json["title"] == "Form post"
    assert set(response.json["tags"]) == {"a", "b"}
    [request] = sandbox.state.recorded_requests()
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/x-www-form-urlencoded"


def test_deeply_nested_json_body_with_auto_content_type_is_forwarded(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str
) -> None:
    body = '{"a": ' + "[" * 3000 + "]" * 3000 + "}"
    response = proxy(api, project, "v1.1/me", method="PUT", raw=body, headers={"Content-Type": "auto"})
    assert "X-Tether-Error" not in response.headers  # the answer is the upstream one, not a Tether error
    [request] = sandbox.state.recorded_requests()
    assert {k.lower(): v for k, v in request.headers.items()}["content-type"] == "application/json"
