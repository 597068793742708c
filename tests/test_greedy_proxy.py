"""API Gateway's one greedy proxy resource behaves as the local server's per-depth routes.

The deploy template gives API Gateway `/projects/{project_id}/sdk/proxy/{integration}/{path+}`;
the local server and the test client match `/{p1}/.../{pN}`. The same requests, as Lambda events
of either shape, must get the same answers and reach the same upstream path.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

from chalicelib.api.proxy import GREEDY_PATH
from chalicelib.domain.proxy_paths import MAX_SEGMENTS
from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_proxy import upstream_paths
from wpcom_sandbox.server import WordPressSandbox

PREFIX = "/projects/{pid}/sdk/proxy/wordpress/"


@pytest.fixture
def connected(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> str:
    """Alice has connected her WordPress.com account (alicebaker); returns the credential id."""
    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    sandbox.state.clear_recorded_requests()
    return credential_id


def _events(path: str, headers: dict[str, str], method: str = "GET") -> tuple[dict[str, Any], dict[str, Any]]:
    """The per-depth event (as chalice's local gateway builds it) and API Gateway's greedy one."""
    from app import app

    converter = LambdaEventConverter(RouteMatcher(list(app.routes)), app.api.binary_types)
    local = converter.create_lambda_event(method, path, headers, None)
    greedy = copy.deepcopy(local)
    captured = local["pathParameters"]
    segments = [captured[f"p{i}"] for i in range(1, MAX_SEGMENTS + 1) if f"p{i}" in captured]
    greedy["requestContext"]["resourcePath"] = GREEDY_PATH
    greedy["resource"] = GREEDY_PATH
    greedy["pathParameters"] = {
        "project_id": captured["project_id"],
        "integration": captured["integration"],
        "path": "/".join(segments),
    }
    return local, greedy


def _invoke(event: dict[str, Any]) -> tuple[int, Any]:
    from app import app

    answer = app(event, LambdaContext("tether-test-api", 512))
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return answer["statusCode"], json.loads(body)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("v1.1/me/sites", 200),
        ("me", 200),
        ("wp/v2/sites/190000101/posts", 404),  # the sandbox has no such endpoint: its 404 passes through
        ("v1.1/me/../../x", 400),
        ("v1.1//me", 400),
        ("v1.1/%2e%2e/x", 400),
        ("/".join(["sites"] * MAX_SEGMENTS), 404),  # the deepest route; the sandbox answers 404
    ],
)
def test_greedy_resource_answers_as_the_per_depth_routes(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, connected: str, path: str, status: int
) -> None:
    headers = {"Authorization": f"Bearer {project.token('alice')}", "Accept": "application/json"}
    local, greedy = _events(PREFIX.format(pid=project.id) + path, headers)
    assert local["requestContext"]["resourcePath"] != GREEDY_PATH

    local_status, local_body = _invoke(local)
    local_upstream = upstream_paths(sandbox)
    sandbox.state.clear_recorded_requests()
    greedy_status, greedy_body = _invoke(greedy)

    assert local_status == status, local_body
    assert (greedy_status, greedy_body) == (local_status, local_body)
    assert upstream_paths(sandbox) == local_upstream
    # A refused path reaches nothing; any other reaches WordPress.com once, at the same path.
    assert len(local_upstream) == (0 if status == 400 else 1)


def test_a_path_deeper_than_the_deepest_route_is_route_not_found(api: Api, project: ProjectHandle) -> None:
    _, greedy = _events(PREFIX.format(pid=project.id) + "me", {"Authorization": f"Bearer {project.token()}"})
    greedy["pathParameters"]["path"] = "/".join(["x"] * (MAX_SEGMENTS + 1))
    status, body = _invoke(greedy)
    assert (status, body["code"]) == (404, "route_not_found")
