"""Every route, fed odd input: never a 500, always Tether's error shape for Tether's errors.

A bounded, seeded random walk over the app's routes (no network: the provider origin is an
unused loopback port, so proxied calls fail fast upstream)."""

from __future__ import annotations

import base64
import json
import random
import re
import time
from typing import Any
from urllib.parse import quote

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
    "\ud800",
    "\u00b2",
    "x\udfffy",
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
    '{"allowedOrigins": ["https://app.example", "javascript:alert(1)", "http://[::1"]}',
    '{"allowedOrigins": ["https://app.example", 7, null]}',
    '{"allowedOrigins": ["https://app.example"]}',
    "\udcff",
    "x" * 70000,
    b"\x89PNG\r\n\x1a\n\x00\x00",
    '{"meta": {"a": NaN}, "clientId": NaN, "publicKeyPem": NaN}',
    '{"meta": {"a": -Infinity}, "scopes": [Infinity]}',
    '{"meta": {"a": 1e999}, "active": 1e999}',
    '{"meta": {"a": ' + "9" * 4400 + '}, "clientId": ' + "9" * 4400 + "}",
    '{"meta": {"\\ud800": "\\udc00"}, "clientId": "\\ud800", "scopes": ["\\udfff"], "active": true}',
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
    {"Cookie": "tether_connect=\ud800"},
    {"X-Paragon-Credential": "\ud800"},
    {"X-Anything": "\udfff"},
    {"Cookie": 'cookie-consent={"a":true, "b":false}; tether_connect="x'},
    {"Origin": "null"},
    {"Origin": "https://app.example:99999"},
    {"Origin": "https://app.example", "Access-Control-Request-Method": "PATCH"},
    {"Referer": "%%%://[", "Sec-Fetch-Dest": "iframe"},
]
ODD_QUERIES = [
    "",
    "?limit=0",
    "?limit=abc",
    "?cursor=%%%",
    "?state=x.y&code=z",
    "?installOptions=%7B",
    "?a=1&a=2",
    "?limit=\u00b2",
    "?limit=\u0663",
    "?limit=" + "1" * 5000,
    "?cursor=\ud800",
    "?state=\ud800&code=\ud800",
    "?installOptions=" + "9" * 4400,
    "?installOptions=%7B%22a%22%3ANaN%7D",
    "?\ud800=1",
    "?originForPostMessage=javascript%3Aalert(1)",
    "?originForPostMessage=http%3A%2F%2F%5B%3A%3A1",
]


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def odd_user_tokens(project: ProjectHandle) -> list[str]:
    """User tokens with odd headers or claims: some unsigned, some validly signed."""
    claims = {"sub": "u", "exp": int(time.time()) + 600}
    tokens = [
        _b64({"alg": alg, "kid": kid}) + "." + _b64(claims) + ".c2ln"
        for alg, kid in [(["RS256"], project.kid), ({"a": 1}, project.kid), (256, None), ("RS256", ["k"]), ("RS256", 7)]
    ]
    for odd in ({"sub": "u\ud800"}, {"aud": {"a": 1}}, {"exp": 1e999}, {"aud": "another-project"}):
        tokens.append(sign_user_token_with(project, {**claims, **odd}))
    tokens.append(project.token("fuzz-user") + "\u00e9")
    return tokens


def sign_user_token_with(project: ProjectHandle, claims: dict[str, Any]) -> str:
    """A validly signed token whose payload is exactly `json.dumps(claims)`."""
    from jwt.algorithms import RSAAlgorithm

    algorithm = RSAAlgorithm(RSAAlgorithm.SHA256)
    signing_input = _b64({"alg": "RS256", "typ": "JWT", "kid": project.kid}) + "." + _b64(claims)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(project.private_key_pem))
    token = signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    project.watch.add(token)
    return token


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
        *({"token": token} for token in odd_user_tokens(project)),
        {"headers": {"Authorization": "Bearer \ud800"}},
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
        status = _call_and_check(api, method, path, body, headers, auth)
        statuses[status] = statuses.get(status, 0) + 1
    # The walk reached past authentication and validation, not only the front door.
    assert any(200 <= status < 300 for status in statuses), statuses
    assert len(statuses) >= 4, statuses


def _call_and_check(
    api: Api, method: str, path: str, body: bytes | None, headers: dict[str, str], auth: dict[str, Any]
) -> int:
    """Send one request; fail on a 500 or on an error body that is not Tether's shape."""
    response = api.call(method, path, raw=body, headers=headers, **auth)
    where = f"{method} {path[:120]!r} body={str(body)[:60]!r} headers={headers!r}"
    assert response.status != 500, f"{where} -> {response.body[:300]!r}"
    if "X-Tether-Error" in response.headers:
        payload = json.loads(response.body)
        # An invalid workflow definition lists its problems too (DESIGN.md pins that shape).
        extra = {"problems"} if payload.get("code") == "invalid_workflow" else set()
        assert set(payload) - extra == {"message", "code"}, where
    elif response.headers.get("Content-Type", "").startswith("application/json") and response.status >= 400:
        assert "Code" not in json.loads(response.body), f"chalice's own error shape: {where}"
    return response.status


# Input classes that once answered 500 somewhere. Each is sent to every route, with the route's
# right credential so it reaches past authentication.
CLASS_BODIES = [
    body
    for body in ODD_BODIES
    if isinstance(body, str)
    and ("NaN" in body or "Inf" in body or "e999" in body or "4400" in body or "\\ud800" in body)
]
CLASS_QUERIES = [
    query for query in ODD_QUERIES if "\u00b2" in query or "\u0663" in query or "\ud800" in query or len(query) > 1000
]
CLASS_HEADERS = [headers for headers in ODD_HEADERS if any("\ud800" in v or "\udfff" in v for v in headers.values())]


def test_every_route_survives_every_input_class(api: Api, project: ProjectHandle) -> None:
    from app import app

    # One proxy depth stands for all (they share one view).
    routes = sorted(
        (path, method)
        for path, methods in app.routes.items()
        for method in methods
        if "/sdk/proxy/" not in path or path.count("{p") == 1
    )
    user_token = project.token("sweep-user")
    tokens = odd_user_tokens(project)
    seen: set[str] = set()
    for template, method in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: project.id if m.group(1) == "project_id" else "wordpress", template)
        sdk = "/sdk/" in template
        auth: dict[str, Any] = {"token": user_token} if sdk else {"headers": project.admin}
        cases: list[tuple[str, bytes | None, dict[str, str], dict[str, Any]]] = []
        cases += [(path, body.encode("utf-8", "surrogatepass"), {}, auth) for body in CLASS_BODIES]
        cases += [(path + query, None, {}, auth) for query in CLASS_QUERIES]
        cases += [(path, None, headers, auth) for headers in CLASS_HEADERS]
        cases += [(path, None, {}, {"token": token}) for token in tokens]
        if "oauth" in template:  # the popup routes also read the token from the query string
            cases += [(path + "?userToken=" + quote(token), None, {}, {}) for token in tokens]
        if "{" in template.replace("{project_id}", "").replace("{integration_type}", "").replace("{integration}", ""):
            for odd in ("\ud800", "\u00b2", "9" * 4400):
                odd_path = re.sub(
                    r"\{(\w+)\}",
                    lambda m, odd=odd: (
                        project.id
                        if m.group(1) == "project_id"
                        else "wordpress"
                        if "integration" in m.group(1)
                        else odd
                    ),
                    template,
                )
                cases.append((odd_path, None, {}, auth))
        for case_path, body, headers, case_auth in cases:
            case_auth = dict(case_auth)
            sent_headers = {**case_auth.pop("headers", {}), **headers}
            status = _call_and_check(api, method, case_path, body, sent_headers, case_auth)
            seen.add(f"{status // 100}xx")
    assert {"2xx", "4xx"} <= seen, seen


# --- upstream classes: the proxy against answers that break in every way the fault server knows ----

UPSTREAM_HEADERS: list[dict[str, str]] = [
    {},
    {"Accept-Encoding": "br, zstd"},
    {"Accept-Encoding": "gzip;q=0, identity;q=0"},
    {"Connection": "close, Accept, Content-Type, Authorization"},
    {"Accept-Language": "caf\u00e9 \u2603"},
    {"Accept-Language": "a\r\nX-Injected: 1"},
    {"If-None-Match": "\x00"},
    {"X-HTTP-Method-Override": "DELETE", "True-Client-IP": "1.2.3.4"},
    {"Idempotency-Key": "k"},
    {"Content-Type": "auto"},
]
UPSTREAM_QUERIES = ["", "?_method=POST", "?_method=%00", "?_method=", "?_method=get&_method=delete", "?fields=ID"]


def test_proxy_never_answers_500_on_broken_upstreams(
    api: Api, project: ProjectHandle, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.upstream import Clock
    from chalicelib.wiring import get_services, reset_services
    from tests import connect_flow
    from tests.fault_server import BROKEN_ANSWERS, FaultServer, chunked, gzipped, head, json_ok, respond
    from tests.fault_server import send as send_raw

    connect_flow.connect(api, project, sandbox, "fuzz-user", sandbox_user="alicebaker")
    answers = [
        *BROKEN_ANSWERS.values(),
        json_ok(),
        respond(200, gzipped(b'{"ok": true}'), [("Content-Encoding", "gzip")]),
        respond(200, gzipped(b"x" * 100_000), [("Content-Encoding", "gzip")]),
        send_raw(head(200, [("Transfer-Encoding", "chunked")]) + chunked(b"y" * 100_000)),
        send_raw(head(200) + b"z" * 100_000),
        respond(429, b"{}", [("Retry-After", "999999999999999999999")]),
        respond(503, b"{}", [("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")]),
        respond(204, b""),
        respond(304, b"", [("Content-Encoding", "gzip")]),
        send_raw(b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 150 + b"Content-Length: 0\r\nConnection: close\r\n\r\n"),
        send_raw(b"not http at all\r\n\r\n"),
        send_raw(b""),
    ]
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    with FaultServer(*answers, cycle=True, lifetime=120) as server:
        monkeypatch.setenv("TETHER_WPCOM_ORIGIN", server.origin)
        monkeypatch.setenv("TETHER_MAX_PROXY_RESPONSE_BYTES", "50000")
        reset_services()
        get_services().upstream_clock = Clock(sleep=lambda seconds: None)
        token = project.token("fuzz-user")
        for _ in range(60):
            method = rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE"])
            path = rng.choice(["v1.1/me", "sites/1/posts/new", "wp/v2/sites/1/posts"]) + rng.choice(UPSTREAM_QUERIES)
            headers = rng.choice(UPSTREAM_HEADERS)
            body = rng.choice([None, b"{}", b"title=x", b"\xff\xfe"])
            response = api.call(
                method, f"/projects/{project.id}/sdk/proxy/wordpress/{path}", token=token, raw=body, headers=headers
            )
            statuses[response.status] = statuses.get(response.status, 0) + 1
            where = f"{method} {path} headers={headers!r} body={body!r}"
            assert response.status != 500, f"{where} -> {response.body[:300]!r}"
            if "X-Tether-Error" in response.headers:
                assert set(json.loads(response.body)) == {"message", "code"}, where
            for name, value in response.headers.items():
                assert not any(ch in value for ch in "\r\n\x00"), f"{where}: header {name} carries a control character"
    assert statuses.get(502), statuses
    assert any(200 <= status < 300 for status in statuses), statuses
