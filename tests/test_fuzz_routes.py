"""Every route, fed odd input: never a 500, always Tether's error shape for Tether's errors.

A bounded, seeded random walk over the app's routes (no network: the provider origin is an
unused loopback port, so proxied calls fail fast upstream)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from tests.conftest import Api, ProjectHandle

ODD_SEGMENTS = [
    "x",
    "%00",
    "%2e%2e",
    "a" * 300,
    "caf%C3%A9",
    "%ff",
    "00000000-0000-4000-8000-000000000000",
    "..",
    "slug:hello",
    "%252e",
    "%0d%0a",
    "@",
]
ODD_BODIES: list[Any] = [
    None,
    "",
    "{",
    "[]",
    "null",
    '"text"',
    "{}",
    '{"meta": {"a": [1, 2, {"b": null}]}}',
    '{"clientId": "1", "clientSecret": "s", "scopes": ["posts"], "active": true}',
    '{"publicKeyPem": "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"}',
    "\udcff",
    "x" * 70000,
    b"\x89PNG\r\n\x1a\n\x00\x00",
]
ODD_HEADERS = [
    {},
    {"Content-Type": "text/plain"},
    {"Content-Type": "application/json; charset=utf-8"},
    {"Content-Type": "multipart/form-data; boundary=x"},
    {"Content-Type": "auto"},
    {"X-Paragon-Credential": "nope"},
    {"X-Paragon-Credential": "a" * 3000},
    {"Accept": "image/png"},
    {"Cookie": "tether_connect=\u00e9\u00e9"},
]
ODD_QUERIES = ["", "?limit=0", "?limit=abc", "?cursor=%%%", "?state=x.y&code=z", "?installOptions=%7B", "?a=1&a=2"]


def _fill(template: str, rng: random.Random, project_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "project_id":
            return (
                project_id if rng.random() < 0.9 else rng.choice(["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
            )
        if name == "integration_type" or name == "integration":
            return rng.choice(["wordpress", "wordpress", "myspace"])
        return rng.choice(ODD_SEGMENTS)

    return re.sub(r"\{(\w+)\}", value, template)


@pytest.mark.parametrize("seed", range(3))
def test_routes_never_answer_500(api: Api, project: ProjectHandle, seed: int) -> None:
    from app import app

    rng = random.Random(seed)
    routes = sorted((path, method) for path, methods in app.routes.items() for method in methods)
    user_token = project.token("fuzz-user")
    odd_credentials: list[dict[str, Any]] = [
        {"token": "garbage"},
        {},
        {"headers": project.admin},
        {"token": user_token},
    ]
    statuses: dict[int, int] = {}
    for _ in range(150):
        template, method = rng.choice(routes)
        path = _fill(template, rng, project.id) + rng.choice(ODD_QUERIES)
        # Mostly the right credential for the route, so the walk gets past authentication.
        if rng.random() < 0.85:
            auth: dict[str, Any] = {"token": user_token} if "/sdk/" in template else {"headers": project.admin}
        else:
            auth = dict(rng.choice(odd_credentials))
        headers = {**auth.pop("headers", {}), **rng.choice(ODD_HEADERS)}
        body = rng.choice(ODD_BODIES)
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        response = api.call(method, path, raw=body, headers=headers, **auth)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        where = f"{method} {path[:120]} body={str(body)[:40]!r} headers={headers}"
        assert response.status != 500, f"{where} -> {response.body[:300]!r}"
        if "X-Tether-Error" in response.headers:
            payload = json.loads(response.body)
            assert set(payload) == {"message", "code"}, where
        elif response.headers.get("Content-Type", "").startswith("application/json") and response.status >= 400:
            assert "Code" not in json.loads(response.body), f"chalice's own error shape: {where}"
    # The walk reached past authentication and validation, not only the front door.
    assert any(200 <= status < 300 for status in statuses), statuses
    assert len(statuses) >= 4, statuses
