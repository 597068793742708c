"""The Python client against a running local stack: the seed's calls and typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devstack import RunningDevStack
from tether.client import AuthenticationError, InvalidRequestError, NotConnectedError, Tether
from tether.sandbox_connect import connect_over_http


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    with RunningDevStack(Path(tmp_path_factory.mktemp("client-stack"))) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: RunningDevStack) -> Tether:
    token = stack.token("python-client-user")
    connect_over_http(stack.api_url, stack.project_id, token)
    tether = Tether(stack.api_url)
    tether.authenticate(stack.project_id, token)
    return tether


def test_authenticate_loads_the_user(client: Tether) -> None:
    assert client.user is not None
    assert client.user["id"] == "python-client-user"
    assert client.user["integrations"]["wordpress"]["credentialStatus"] == "VALID"


def test_seed_calls(client: Tether) -> None:
    sites = client.request("wordpress", "v1.1/me/sites", method="GET")
    assert sites.status == 200
    site_id = sites.body["sites"][0]["ID"]
    posts = client.request("wordpress", f"v1.1/sites/{site_id}/posts?number=1").body["posts"]
    post_id = posts[0]["ID"]
    likes = client.request("wordpress", f"v1.1/sites/{site_id}/posts/{post_id}/likes", method="GET")
    assert likes.status == 200
    assert "found" in likes.body
    created = client.request(
        "wordpress",
        f"sites/{site_id}/posts/new",
        method="POST",
        body={"title": "My Post", "content": "This is my post", "tags": "api_posts", "categories": "API"},
    )
    assert created.ok, created.body
    fetched = client.request("wordpress", f"sites/{site_id}/posts/{created.body['ID']}").body
    assert fetched["title"] == "My Post"
    assert "api_posts" in fetched["tags"]
    assert "API" in fetched["categories"]


def test_provider_errors_come_back_as_responses(client: Tether) -> None:
    missing = client.request("wordpress", "v1.1/sites/999999999")
    assert missing.status in (403, 404)
    assert "error" in missing.body


def test_typed_errors(stack: RunningDevStack, client: Tether) -> None:
    with pytest.raises(InvalidRequestError) as bad_path:
        client.request("wordpress", "v1.1/%2e%2e/%2e%2e/admin")
    assert bad_path.value.code == "invalid_proxy_path"
    # Plain dot segments are resolved by the HTTP client before sending: the request leaves
    # the proxy route entirely and meets a JSON 404.
    with pytest.raises(InvalidRequestError) as escaped:
        client.request("wordpress", "v1.1/../../../../admin")
    assert escaped.value.code == "route_not_found"
    stranger = Tether(stack.api_url)
    stranger.authenticate(stack.project_id, stack.token("never-connected"))
    with pytest.raises(NotConnectedError):
        stranger.request("wordpress", "v1.1/me")
    with pytest.raises(AuthenticationError):
        Tether(stack.api_url).authenticate(stack.project_id, "not-a-token")


def test_event_starts_the_users_workflows(stack: RunningDevStack, client: Tether) -> None:
    """The dev project's demo workflow listens to `article.published` (enabled by default)."""
    from tether.client import TetherAdmin

    run_ids = client.event("article.published", {"title": "From the client", "body": "Hello"}, idempotency_key="k-1")
    assert len(run_ids) == 1
    assert client.event("article.published", {"title": "again"}, idempotency_key="k-1") == run_ids
    assert client.event("nobody.listens", {}) == []
    admin = TetherAdmin(stack.api_url, stack.project_id, stack.state["projectSecretKey"])
    run = admin.get_run(run_ids[0])
    assert run["userId"] == "python-client-user"
    assert run["trigger"]["payload"]["title"] == "From the client"
    with pytest.raises(InvalidRequestError):
        client.event("", {})
