"""Bad input gets a clear 4xx JSON error, never a 500, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused


def put_integration(api: Api, project: ProjectHandle, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    path = f"/projects/{project.id}/integrations/wordpress"
    return api.call("PUT", path, headers={**project.admin, **(headers or {})}, **kwargs)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
        ('{"a": ' + "[" * 30000 + "]" * 30000 + "}", "nested too deeply"),
    ],
)
def test_malformed_json(api: Api, project: ProjectHandle, raw: Any, fragment: str) -> None:
    response = put_integration(api, project, raw=raw)
    assert_refused(response, status=400, code="invalid_json")
    assert fragment in response.json["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"scopes": [], "active": True}, "clientId"),
        ({"clientId": None, "active": True}, "scopes"),
        ({"clientId": None, "scopes": []}, "active"),
        ({"clientId": 5, "scopes": [], "active": True}, "clientId"),
        ({"clientId": None, "scopes": "posts", "active": True}, "scopes"),
        ({"clientId": None, "scopes": [1], "active": True}, "scopes"),
        ({"clientId": None, "scopes": ["bad scope!"], "active": True}, "scope"),
        ({"clientId": None, "scopes": [], "active": "yes"}, "active"),
        ({"clientId": None, "scopes": [], "active": True, "extra": 1}, "extra"),
        ({"clientId": "123", "scopes": [], "active": True}, "clientSecret"),
        ({"clientId": None, "clientSecret": "s3cr3t", "scopes": [], "active": True}, "clientId"),
    ],
)
def test_invalid_integration_settings(api: Api, project: ProjectHandle, body: Any, fragment: str) -> None:
    response = put_integration(api, project, body=body)
    assert_refused(response, status=400)
    assert fragment in response.json["message"]
    # Nothing was stored.
    current = api.call("GET", f"/projects/{project.id}/integrations/wordpress", headers=project.admin).json
    assert current["clientId"] is None
    assert current["scopes"] == []


def test_unknown_integration_type(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", f"/projects/{project.id}/integrations/myspace", headers=project.admin)
    assert_refused(response, status=404, code="unknown_integration")
    body = {"clientId": None, "scopes": [], "active": True}
    put = api.call("PUT", f"/projects/{project.id}/integrations/myspace", body=body, headers=project.admin)
    assert_refused(put, status=404, code="unknown_integration")


def test_oversized_body(api: Api, project: ProjectHandle) -> None:
    response = put_integration(api, project, raw='{"clientId": "' + "x" * 70000 + '"}')
    assert_refused(response, status=413, code="payload_too_large")
    patch = api.call(
        "PATCH", f"/projects/{project.id}/sdk/me", token=project.token(), raw='{"meta": "' + "x" * 70000 + '"}'
    )
    assert_refused(patch, status=413, code="payload_too_large")


def test_non_json_content_type(api: Api, project: ProjectHandle) -> None:
    response = put_integration(api, project, raw="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_refused(response, status=415, code="unsupported_media_type")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "publicKeyPem"),
        ({"publicKeyPem": 12}, "publicKeyPem"),
        ({"publicKeyPem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}, "PEM"),
        ({"publicKeyPem": "x", "other": True}, "other"),
    ],
)
def test_invalid_signing_key(api: Api, project: ProjectHandle, body: Any, fragment: str) -> None:
    response = api.call("POST", f"/projects/{project.id}/signing-keys", body=body, headers=project.admin)
    assert_refused(response, status=400)
    assert fragment in response.json["message"]


def test_private_key_pem_is_refused_and_not_echoed(api: Api, project: ProjectHandle) -> None:
    response = api.call(
        "POST",
        f"/projects/{project.id}/signing-keys",
        body={"publicKeyPem": project.private_key_pem},
        headers=project.admin,
    )
    assert_refused(response, status=400, code="invalid_public_key")


def test_small_rsa_key_is_refused(api: Api, project: ProjectHandle) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = weak.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    response = api.call(
        "POST", f"/projects/{project.id}/signing-keys", body={"publicKeyPem": pem}, headers=project.admin
    )
    assert_refused(response, status=400, code="invalid_public_key")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({}, "meta"), ({"meta": []}, "object"), ({"meta": {}, "x": 1}, "x"), ({"meta": {"k": "v" * 17000}}, "bytes")],
)
def test_invalid_meta(api: Api, project: ProjectHandle, body: Any, fragment: str) -> None:
    token = project.token("erin")
    response = api.call("PATCH", f"/projects/{project.id}/sdk/me", token=token, body=body)
    assert_refused(response, status=400)
    assert fragment in response.json["message"]
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json["meta"] == {}


def test_invalid_cursor_is_a_400(aws_env: None) -> None:
    from chalicelib.domain.errors import BadRequest
    from chalicelib.wiring import get_services

    with pytest.raises(BadRequest):
        get_services().users.list_users("p", 10, "!!!not-a-cursor")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png"])
def test_any_content_type_on_a_get_gets_tethers_answer(api: Api, project: ProjectHandle, content_type: str) -> None:
    response = api.call(
        "GET", f"/projects/{project.id}/sdk/me", token=project.token(), headers={"Content-Type": content_type}
    )
    assert response.status == 200
    unauthorised = api.call("GET", f"/projects/{project.id}/users", headers={"Content-Type": content_type})
    assert_refused(unauthorised, status=401)


def test_html_pages_fail_as_html(api: Api, project: ProjectHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api import connect

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(connect.connect_service, "complete_oauth", explode)
    page = api.call("GET", "/oauth/callback?state=x&code=y")
    assert page.status == 500
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"Something went wrong" in page.body


def test_deeply_nested_json_in_query_values_is_a_400(api: Api, project: ProjectHandle) -> None:
    import base64

    nested = "[" * 3000 + "]" * 3000
    cursor = base64.urlsafe_b64encode(nested.encode()).decode().rstrip("=")
    listing = api.call("GET", f"/projects/{project.id}/users?cursor={cursor}", headers=project.admin)
    assert_refused(listing, status=400, code="invalid_cursor")
    built = api.call(
        "GET",
        f"/v2/projects/{project.id}/sdk/actions/build-oauth?action=wordpress&oauthMetaKeyId=abcdefgh"
        f"&installOptions={nested}",
        token=project.token(),
    )
    assert_refused(built, status=400, code="invalid_install_options")


def test_ids_too_long_for_a_key_are_a_400(api: Api, project: ProjectHandle) -> None:
    long_id = "x" * 3000
    token = project.token("alice")
    for method, path, kwargs in [
        ("GET", f"/projects/{project.id}/sdk/credentials/{long_id}", {"token": token}),
        ("GET", f"/projects/{project.id}/sdk/actions/session-id/{long_id}", {"token": token}),
        ("GET", f"/projects/{project.id}/users/{long_id}", {"headers": project.admin}),
        ("DELETE", f"/projects/{project.id}/signing-keys/{long_id}", {"headers": project.admin}),
    ]:
        response = api.call(method, path, **kwargs)
        assert response.status in (400, 404), (path[:60], response.status, response.body)
        assert set(response.json) == {"message", "code"}


@pytest.mark.parametrize(
    "message",
    [
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of"
        " 1024 bytes",
    ],
)
def test_a_key_dynamodb_refuses_is_bad_input_not_an_outage(message: str) -> None:
    """Real DynamoDB refuses over-long keys on reads too (moto only on writes): those texts are a 400."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters.dynamo import storage_error

    refused = ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "GetItem")
    assert (storage_error(refused).status, storage_error(refused).code) == (400, "invalid_identifier")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        # What a condition expression whose placeholders do not match its values gets: Tether's bug.
        ("ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v0}"),
        ("ValidationException", "The provided key element does not match the schema"),
        ("InternalServerError", "boom"),
    ],
)
def test_other_dynamodb_refusals_are_a_logged_5xx(code: str, message: str, caplog: pytest.LogCaptureFixture) -> None:
    from botocore.exceptions import ClientError

    from chalicelib.adapters.dynamo import storage_error

    error = storage_error(ClientError({"Error": {"Code": code, "Message": message}}, "Query"))
    assert (error.status, error.code) == (502, "storage_unavailable")
    logged = [record for record in caplog.records if record.name == "tether.storage"]
    assert len(logged) == 1
    assert logged[0].levelname == "ERROR"
    assert code in logged[0].getMessage()
    assert "Query" in logged[0].getMessage()


BIG_INT = "1" + "0" * 4400  # more digits than int() converts (sys.get_int_max_str_digits)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"meta": {"a": NaN}}', "NaN"),
        ('{"meta": {"a": Infinity}}', "NaN or Infinity"),
        ('{"meta": {"a": [-Infinity]}}', "NaN or Infinity"),
        ('{"meta": {"a": 1e400}}', "NaN or Infinity"),
        ('{"meta": {"a": ' + BIG_INT + "}}", "too many digits"),
        ('{"meta": {"a": -' + BIG_INT + "}}", "too many digits"),
        ('{"meta": {"a": "\\ud800"}}', "surrogate"),
        ('{"meta": {"\\udfff": 1}}', "surrogate"),
        ('{"meta": {"a": ["ok", {"b": "x\\uDC00y"}]}}', "surrogate"),
    ],
)
def test_json_that_cannot_be_stored_or_sent_back_is_a_400(
    api: Api, project: ProjectHandle, raw: str, fragment: str
) -> None:
    token = project.token("erin")
    response = api.call("PATCH", f"/projects/{project.id}/sdk/me", token=token, raw=raw)
    assert_refused(response, status=400, code="invalid_json")
    assert fragment in response.json["message"]
    # Nothing was stored, and every reader of the user still answers.
    assert api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json["meta"] == {}
    assert api.call("GET", f"/projects/{project.id}/users", headers=project.admin).status == 200
    settings = put_integration(api, project, raw=raw.replace('"meta"', '"clientId"'))
    assert_refused(settings, status=400, code="invalid_json")


def test_a_surrogate_pair_is_fine(api: Api, project: ProjectHandle) -> None:
    token = project.token("erin")
    response = api.call("PATCH", f"/projects/{project.id}/sdk/me", token=token, raw='{"meta": {"e": "\\ud83d\\ude00"}}')
    assert response.status == 200
    assert api.call("GET", f"/projects/{project.id}/users/erin", headers=project.admin).json["meta"] == {"e": "😀"}


def test_responses_never_carry_nan(api: Api, project: ProjectHandle) -> None:
    from chalicelib.api.http import json_response

    with pytest.raises(ValueError):
        json_response({"a": float("nan")})


@pytest.mark.parametrize("limit", ["²", "٣", "\uff13", "1" * 5000, "0" * 4400 + "5", "-1", "+5", " 5", "5.0", "101"])
def test_limit_takes_ascii_digits_only(api: Api, project: ProjectHandle, limit: str) -> None:
    from urllib.parse import quote

    response = api.call("GET", f"/projects/{project.id}/users?limit={quote(limit)}", headers=project.admin)
    assert_refused(response, status=400, code="invalid_limit")


LONE = "\ud800"


@pytest.mark.parametrize(
    ("method", "path", "extra_headers"),
    [
        ("GET", "/projects/{pid}/users/x" + LONE, {}),
        ("DELETE", "/projects/{pid}/users/u" + LONE + "/credentials/c", {}),
        ("GET", "/projects/{pid}/users?cursor=" + LONE, {}),
        ("GET", "/projects/{pid}/users?" + LONE + "=1", {}),
        ("GET", "/projects/{pid}/sdk/credentials/" + LONE, {}),
        ("GET", "/projects/{pid}/sdk/me", {"X-Anything": "a" + LONE}),
        ("GET", "/projects/{pid}/sdk/proxy/wordpress/v1.1/me", {"X-Paragon-Credential": LONE}),
        ("GET", "/projects/{pid}/sdk/me", {"Cookie": "tether_connect=" + LONE}),
    ],
)
def test_lone_surrogates_in_path_query_and_headers_are_a_400(
    api: Api, project: ProjectHandle, method: str, path: str, extra_headers: dict[str, str]
) -> None:
    auth = {"token": project.token("erin")} if "/sdk/" in path else {}
    headers = {**(project.admin if "/sdk/" not in path else {}), **extra_headers}
    response = api.call(method, path.replace("{pid}", project.id), headers=headers, **auth)
    assert_refused(response, status=400, code="invalid_encoding")


def test_a_lone_surrogate_refused_on_an_sdk_route_carries_its_cors_headers(api: Api, project: ProjectHandle) -> None:
    app_origin = "https://app.example.com"
    saved = api.call(
        "PUT", f"/projects/{project.id}/allowed-origins", body={"allowedOrigins": [app_origin]}, headers=project.admin
    )
    assert saved.status == 200, saved.body
    response = api.call(
        "GET",
        f"/projects/{project.id}/sdk/me",
        token=project.token("erin"),
        headers={"Origin": app_origin, "X-Anything": "a" + LONE},
    )
    assert_refused(response, status=400, code="invalid_encoding")
    # Without these a browser hides the answer from the app: it would see a network error.
    assert response.headers["Access-Control-Allow-Origin"] == app_origin
    assert "X-Tether-Error" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "path", ["/oauth/callback?state=" + LONE + "&code=x", "/projects/{pid}/sdk/actions/oauth-nonce?userToken=" + LONE]
)
def test_a_lone_surrogate_on_a_page_is_a_400_page(api: Api, project: ProjectHandle, path: str) -> None:
    response = api.call("GET", path.replace("{pid}", project.id))
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "not valid Unicode" in response.body.decode()
    assert "invalid_encoding" in response.body.decode()


def test_a_cursor_holding_a_lone_surrogate_is_a_400(api: Api, project: ProjectHandle) -> None:
    import base64
    import json

    for user in ("u1", "u2"):
        api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token(user))
    first = api.call("GET", f"/projects/{project.id}/users?limit=1", headers=project.admin).json
    padded = first["nextCursor"] + "=" * (-len(first["nextCursor"]) % 4)
    key = json.loads(base64.urlsafe_b64decode(padded))
    # The listing's partition stays right; the sort key gains a lone surrogate.
    forged = {name: value + ("\ud800" if name == "GSI1SK" else "") for name, value in key.items()}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    response = api.call("GET", f"/projects/{project.id}/users?cursor={cursor}", headers=project.admin)
    assert_refused(response, status=400, code="invalid_cursor")


@pytest.mark.parametrize("value", ["\u00b2", "1\u00b9", "9" * 5000, "-1", "1.5"])
def test_an_odd_retry_after_from_upstream_is_not_a_500(
    api: Api, project: ProjectHandle, sandbox: Any, value: str
) -> None:
    from tests import connect_flow

    connect_flow.connect(api, project, sandbox, "alice")
    sandbox.state.fail_next("/rest/v1.1/me", 429, {"error": "rate_limited"}, headers={"Retry-After": value})
    response = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    assert response.status in (200, 429), response.body


def test_a_trailing_newline_does_not_pass_an_id_or_scope_pattern(api: Api, project: ProjectHandle) -> None:
    body = {"clientId": None, "scopes": ["posts\n"], "active": True}
    assert_refused(put_integration(api, project, body=body), status=400, code="invalid_field")
    built = api.call(
        "GET",
        f"/v2/projects/{project.id}/sdk/actions/build-oauth?action=wordpress&oauthMetaKeyId=abcdefgh%0A",
        token=project.token(),
    )
    assert_refused(built, status=400, code="invalid_session_id")
