"""End-user authentication on the SDK routes: valid tokens work, every forgery is refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.services.user_tokens import MAX_TOKEN_CHARS
from tests.conftest import Api, ProjectHandle
from tether.tokens import public_key_pem, sign_user_token

ALG_REFUSED = "User tokens must be signed with RS256 or ES256."
TOO_LONG = "The user token is too long."
NOT_A_JWT = "The user token is not a well-formed JWT."
NOT_VALID = "The user token is not valid."
NOT_SIGNED_HERE = "The user token is not signed by a key registered for this project."
UNKNOWN_KID = "The user token's 'kid' is not registered for this project."


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def me(api: Api, project: ProjectHandle, token: str | None) -> Any:
    return api.call("GET", f"/projects/{project.id}/sdk/me", token=token)


def assert_refused(response: Any, status: int = 401, code: str | None = None, message: str | None = None) -> None:
    assert response.status == status, response.body
    body = response.json
    assert set(body) == {"message", "code"}
    assert body["message"]
    if code is not None:
        assert body["code"] == code
    if message is not None:
        assert body["message"] == message


def test_valid_token_returns_me_shape(api: Api, project: ProjectHandle) -> None:
    response = me(api, project, project.token("alice"))
    assert response.status == 200
    body = response.json
    assert body["id"] == "alice"
    assert body["integrations"]["wordpress"] == {
        "enabled": False,
        "allCredentials": [],
        "allConfigurations": [],
        "usesDevelopmentKeys": False,  # this deployment has no development keys (no sandbox fixture)
        "workflowSettings": {},
        "sharedSettings": {},
    }
    assert body["meta"] == {}
    assert body["resources"] == []
    assert body["project"]["id"] == project.id
    assert "headless-cp" in body["project"]["accessibleFeatures"]


def test_token_without_kid_tries_each_registered_key(api: Api, project: ProjectHandle) -> None:
    from tests.conftest import rsa_private_key

    second_pem = rsa_private_key(7)
    added = api.call(
        "POST",
        f"/projects/{project.id}/signing-keys",
        body={"publicKeyPem": public_key_pem(second_pem)},
        headers=project.admin,
    )
    assert added.status == 201
    listed = api.call("GET", f"/projects/{project.id}/signing-keys", headers=project.admin)
    assert len(listed.json["signingKeys"]) == 2
    # Whatever order the keys are tried in, one of these two tokens verifies only with the key
    # tried second (after the first one's signature check failed).
    for pem in (project.private_key_pem, second_pem):
        token = sign_user_token(pem, "bob", 60, include_kid=False)
        project.watch.add(token)
        assert me(api, project, token).status == 200
    stranger = sign_user_token(rsa_private_key(8), "bob", 60, include_kid=False)
    assert_refused(me(api, project, stranger), code="invalid_signature")


def test_a_valid_token_over_the_length_cap_is_refused(api: Api, project: ProjectHandle) -> None:
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 60, "pad": "x" * 9000}
    token = jwt.encode(claims, project.private_key_pem, algorithm="RS256", headers={"kid": project.kid})
    assert_refused(me(api, project, token), code="invalid_token", message=TOO_LONG)


def _token_of_length(project: ProjectHandle, length: int) -> str:
    """A validly signed token exactly `length` characters long (padded by a claim and a header)."""
    now = int(time.time())
    for header_pad in range(4):
        headers = {"kid": project.kid, "x": "h" * header_pad}
        probe = jwt.encode(
            {"sub": "u", "iat": now, "exp": now + 60, "pad": ""}, project.private_key_pem, "RS256", headers
        )
        # Each 3 characters of padding add 4 to the token; the header's padding covers the rest.
        for pad in range(max(0, (length - len(probe)) * 3 // 4 - 3), (length - len(probe)) * 3 // 4 + 4):
            claims = {"sub": "u", "iat": now, "exp": now + 60, "pad": "p" * pad}
            token = jwt.encode(claims, project.private_key_pem, algorithm="RS256", headers=headers)
            if len(token) == length:
                project.watch.add(token)
                return token
    raise AssertionError(f"no token of {length} characters")


def test_a_token_of_exactly_the_length_cap_is_accepted(api: Api, project: ProjectHandle) -> None:
    assert me(api, project, _token_of_length(project, MAX_TOKEN_CHARS)).status == 200
    refused = me(api, project, _token_of_length(project, MAX_TOKEN_CHARS + 1))
    assert_refused(refused, code="invalid_token", message=TOO_LONG)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(header) + "." + _b64(claims) + "." + base64.urlsafe_b64encode(b"sig").decode().rstrip("=")


@pytest.mark.parametrize("value", [["RS256"], {"a": "RS256"}, 256, None, True, 1.5])
def test_an_alg_that_is_not_a_string_is_a_401(api: Api, project: ProjectHandle, value: Any) -> None:
    token = _unsigned({"alg": value, "typ": "JWT", "kid": project.kid}, {"sub": "u", "exp": int(time.time()) + 60})
    assert_refused(me(api, project, token), code="unsupported_algorithm", message=ALG_REFUSED)


@pytest.mark.parametrize("value", [["k"], {"k": 1}, 7, True, 1.5])
def test_a_kid_that_is_not_a_string_is_a_401(api: Api, project: ProjectHandle, value: Any) -> None:
    token = _unsigned({"alg": "RS256", "typ": "JWT", "kid": value}, {"sub": "u", "exp": int(time.time()) + 60})
    # PyJWT refuses such a header before Tether's own check of the `kid` (kept in case it stops).
    assert_refused(me(api, project, token), code="invalid_token", message=NOT_A_JWT)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": "u\ud800"}, "The 'sub' claim is not valid Unicode (an unpaired surrogate)."),
        ({"sub": "u", "exp": 1e400}, NOT_VALID),
        ({"sub": "u", "exp": "soon"}, NOT_VALID),
        ({"sub": "u", "exp": [1]}, NOT_VALID),
        ({"sub": "u", "iat": {"a": 1}}, NOT_VALID),
        ({"sub": "u", "nbf": 1e400}, NOT_VALID),
        ({"sub": "u", "aud": {"a": 1}}, "The user token's 'aud' claim does not name this project."),
        ({"sub": ["u"]}, NOT_VALID),
        ({"sub": 5}, NOT_VALID),
    ],
)
def test_odd_claims_in_a_signed_token_are_a_401(
    api: Api, project: ProjectHandle, claims: dict[str, Any], message: str
) -> None:
    payload = {"exp": int(time.time()) + 60, **claims}
    # json.dumps writes a lone surrogate as the escape "\\ud800"; the token is validly signed.
    signing_input = _b64({"alg": "RS256", "typ": "JWT", "kid": project.kid}) + "." + _b64_text(json.dumps(payload))
    token = _sign_rs256(project.private_key_pem, signing_input)
    code = "invalid_audience" if "aud" in claims else "invalid_token"
    assert_refused(me(api, project, token), code=code, message=message)


def _b64_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _sign_rs256(private_pem: str, signing_input: str) -> str:
    from jwt.algorithms import RSAAlgorithm

    algorithm = RSAAlgorithm(RSAAlgorithm.SHA256)
    key = algorithm.prepare_key(private_pem)
    signature = algorithm.sign(signing_input.encode(), key)
    return signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")


def test_a_token_that_is_not_ascii_is_a_401(api: Api, project: ProjectHandle) -> None:
    token = project.token("alice")
    assert_refused(me(api, project, token + "é"), code="invalid_token", message=NOT_A_JWT)


def test_es256_key_is_accepted(api: Api, project: ProjectHandle) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    added = api.call(
        "POST",
        f"/projects/{project.id}/signing-keys",
        body={"publicKeyPem": public_key_pem(pem)},
        headers=project.admin,
    )
    assert added.status == 201
    assert added.json["alg"] == "ES256"
    token = jwt.encode({"sub": "ec-user", "exp": int(time.time()) + 60}, private, algorithm="ES256")
    assert me(api, project, token).status == 200


def test_missing_authorization(api: Api, project: ProjectHandle) -> None:
    assert_refused(me(api, project, None), code="missing_authorization")


def test_non_bearer_scheme(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", f"/projects/{project.id}/sdk/me", headers={"Authorization": "Basic abc"})
    assert_refused(response, code="invalid_authorization")


@pytest.mark.parametrize(
    ("garbage", "code", "message"),
    [
        ("garbage", "invalid_token", NOT_A_JWT),
        ("a.b.c", "invalid_token", NOT_A_JWT),
        ("....", "invalid_token", NOT_A_JWT),
        ("eyJhbGciOiJSUzI1NiJ9.e30.", "invalid_signature", NOT_SIGNED_HERE),
        ("x" * 9000, "invalid_token", TOO_LONG),
    ],
)
def test_garbage_token(api: Api, project: ProjectHandle, garbage: str, code: str, message: str) -> None:
    assert_refused(me(api, project, garbage), code=code, message=message)


def test_a_token_no_registered_key_type_can_verify(api: Api, project: ProjectHandle) -> None:
    # The project holds one RSA key; an ES256 token (with or without that key's kid) has no candidate.
    private = ec.generate_private_key(ec.SECP256R1())
    for headers in ({}, {"kid": project.kid}):
        token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, private, algorithm="ES256", headers=headers)
        refused = me(api, project, token)
        assert_refused(
            refused, code="invalid_signature", message="No registered key of this project can verify the user token."
        )


def test_expired_token(api: Api, project: ProjectHandle) -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "u", "iat": now - 600, "exp": now - 120}, project.private_key_pem, algorithm="RS256")
    assert_refused(me(api, project, token), code="token_expired", message="The user token has expired.")


def test_expiry_within_leeway_is_accepted(api: Api, project: ProjectHandle) -> None:
    token = jwt.encode({"sub": "u", "exp": int(time.time()) - 5}, project.private_key_pem, algorithm="RS256")
    assert me(api, project, token).status == 200


def test_token_without_exp(api: Api, project: ProjectHandle) -> None:
    token = jwt.encode({"sub": "u"}, project.private_key_pem, algorithm="RS256")
    assert_refused(me(api, project, token), code="invalid_token", message="The user token lacks the 'exp' claim.")


def test_token_without_sub(api: Api, project: ProjectHandle) -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, project.private_key_pem, algorithm="RS256")
    assert_refused(me(api, project, token), code="invalid_token", message="The user token lacks the 'sub' claim.")


def test_token_issued_in_the_future(api: Api, project: ProjectHandle) -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "u", "iat": now + 3600, "exp": now + 7200}, project.private_key_pem, algorithm="RS256")
    assert_refused(me(api, project, token), code="token_not_yet_valid", message="The user token is not valid yet.")


def test_alg_none(api: Api, project: ProjectHandle) -> None:
    token = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"sub": "u", "exp": int(time.time()) + 60}) + "."
    assert_refused(me(api, project, token), code="unsupported_algorithm", message=ALG_REFUSED)


def test_hs256_signed_with_public_key_pem(api: Api, project: ProjectHandle) -> None:
    public_pem = public_key_pem(project.private_key_pem)
    header = {"alg": "HS256", "typ": "JWT", "kid": project.kid}
    signing_input = _b64(header) + "." + _b64({"sub": "u", "exp": int(time.time()) + 60})
    import hashlib
    import hmac

    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    assert_refused(me(api, project, token), code="unsupported_algorithm")


def test_token_signed_by_another_projects_key(api: Api, make_project: Any) -> None:
    project_a = make_project("A")
    project_b = make_project("B")
    refused = me(api, project_b, project_a.token("u", include_kid=False))
    assert_refused(refused, code="invalid_signature", message=NOT_SIGNED_HERE)


def test_project_a_token_on_project_b_paths(api: Api, make_project: Any) -> None:
    project_a = make_project("A")
    project_b = make_project("B")
    token = project_a.token("u")
    for method, path in [("GET", "sdk/me"), ("GET", "sdk/integrations"), ("PATCH", "sdk/me")]:
        body = {"meta": {"x": 1}} if method == "PATCH" else None
        response = api.call(method, f"/projects/{project_b.id}/{path}", token=token, body=body)
        assert_refused(response, code="unknown_kid", message=UNKNOWN_KID)


def test_unknown_kid(api: Api, project: ProjectHandle) -> None:
    token = jwt.encode(
        {"sub": "u", "exp": int(time.time()) + 60},
        project.private_key_pem,
        algorithm="RS256",
        headers={"kid": "not-a-registered-kid"},
    )
    assert_refused(me(api, project, token), code="unknown_kid", message=UNKNOWN_KID)


def test_tampered_payload(api: Api, project: ProjectHandle) -> None:
    header, _payload, signature = project.token("alice").split(".")
    forged = header + "." + _b64({"sub": "mallory", "exp": int(time.time()) + 60}) + "." + signature
    assert_refused(me(api, project, forged), code="invalid_signature", message=NOT_SIGNED_HERE)


def test_unknown_project_looks_like_a_bad_token(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", "/projects/00000000-0000-4000-8000-000000000000/sdk/me", token=project.token())
    # Word for word the answer to a token no key of an existing project signed.
    assert_refused(response, code="invalid_signature", message=NOT_SIGNED_HERE)


def test_malformed_project_id(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", "/projects/not-a-uuid/sdk/me", token=project.token())
    assert_refused(response, status=404, code="project_not_found")


def test_deleted_signing_key_stops_verifying(api: Api, project: ProjectHandle) -> None:
    token = project.token("alice")
    assert me(api, project, token).status == 200
    deleted = api.call("DELETE", f"/projects/{project.id}/signing-keys/{project.kid}", headers=project.admin)
    assert deleted.status == 204
    assert_refused(me(api, project, token))


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ("", "The 'sub' claim must be a string of 1 to 256 characters."),
        (" ", "The 'sub' claim must be a string of 1 to 256 characters."),
        ("x" * 300, "The 'sub' claim must be a string of 1 to 256 characters."),
        ("line\nbreak", "The 'sub' claim contains control characters."),
    ],
)
def test_unusable_sub(api: Api, project: ProjectHandle, sub: str, message: str) -> None:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 60}, project.private_key_pem, algorithm="RS256")
    assert_refused(me(api, project, token), code="invalid_token", message=message)


def test_end_user_recorded_on_first_sight_and_meta_round_trips(api: Api, project: ProjectHandle) -> None:
    token = project.token("carol")
    patched = api.call("PATCH", f"/projects/{project.id}/sdk/me", token=token, body={"meta": {"plan": "pro", "n": 2}})
    assert patched.status == 200
    assert patched.json["meta"] == {"plan": "pro", "n": 2}
    assert me(api, project, token).json["meta"] == {"plan": "pro", "n": 2}
    other = me(api, project, project.token("dave"))
    assert other.json["meta"] == {}


def test_the_same_user_id_in_two_projects_is_two_end_users(api: Api, make_project: Any) -> None:
    project_a = make_project("A")
    project_b = make_project("B")
    path_a = f"/projects/{project_a.id}/sdk/me"
    patched = api.call("PATCH", path_a, token=project_a.token("carol"), body={"meta": {"in": "a"}})
    assert patched.status == 200
    assert me(api, project_b, project_b.token("carol")).json["meta"] == {}
    assert me(api, project_a, project_a.token("carol")).json["meta"] == {"in": "a"}


def test_sdk_integrations_shape(api: Api, project: ProjectHandle) -> None:
    response = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token())
    assert response.status == 200
    [wordpress] = response.json
    assert wordpress["type"] == "wordpress"
    assert wordpress["isActive"] is True
    assert wordpress["authenticationType"] == "oauth"
    assert wordpress["configs"][0]["values"]["workflowMeta"] == {}
    assert wordpress["usesDevelopmentKeys"] is False  # no development keys without the sandbox fixture
    # The integration id is stable: the SDK addresses uninstalls by it.
    again = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token())
    assert again.json[0]["id"] == wordpress["id"]


def test_cors_headers_on_sdk_responses(api: Api, project: ProjectHandle) -> None:
    response = me(api, project, project.token())
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-paragon-sdk-version", "x-paragon-credential"} <= allowed


def _signed(project: ProjectHandle, claims: dict[str, Any]) -> str:
    token = jwt.encode(claims, project.private_key_pem, algorithm="RS256", headers={"kid": project.kid})
    project.watch.add(token)
    return token


def test_aud_must_name_the_project_when_present(api: Api, project: ProjectHandle) -> None:
    now = int(time.time())
    base = {"sub": "u", "iat": now, "exp": now + 60}
    other = "00000000-0000-4000-8000-000000000000"
    for aud in (project.id, [other, project.id]):
        assert me(api, project, _signed(project, {**base, "aud": aud})).status == 200, aud
    for aud in (other, [other], [], "", [5], project.id.upper(), None):
        refused = me(api, project, _signed(project, {**base, "aud": aud}))
        assert_refused(
            refused, code="invalid_audience", message="The user token's 'aud' claim does not name this project."
        )


def test_a_token_for_project_a_is_refused_by_project_b_sharing_the_key(api: Api, make_project: Any) -> None:
    project_a = make_project("A", key_index=3)
    project_b = make_project("B", key_index=3)
    now = int(time.time())
    token = _signed(project_a, {"sub": "u", "iat": now, "exp": now + 60, "aud": project_a.id})
    assert me(api, project_a, token).status == 200
    assert_refused(me(api, project_b, token), code="invalid_audience")


def test_token_lifetime_is_capped(api: Api, project: ProjectHandle) -> None:
    now = int(time.time())
    day = 24 * 3600
    assert me(api, project, _signed(project, {"sub": "u", "iat": now, "exp": now + day})).status == 200
    long_lived = _signed(project, {"sub": "u", "iat": now, "exp": now + day + 1})
    assert_refused(
        me(api, project, long_lived),
        code="token_lifetime_too_long",
        message=f"The user token is valid for longer than {day} seconds; sign shorter-lived tokens.",
    )
    # Issued long ago, but with a lifetime beyond the cap: still refused.
    old = _signed(project, {"sub": "u", "iat": now - 10 * day, "exp": now + 60})
    assert_refused(me(api, project, old), code="token_lifetime_too_long")
    # Without `iat`, what is left of the token's life counts.
    assert me(api, project, _signed(project, {"sub": "u", "exp": now + day - 60})).status == 200
    assert_refused(
        me(api, project, _signed(project, {"sub": "u", "exp": now + 2 * day})), code="token_lifetime_too_long"
    )


def test_token_lifetime_cap_is_configurable(api: Api, project: ProjectHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_MAX_TOKEN_LIFETIME_SECONDS", "600")
    reset_services()
    assert me(api, project, project.token("u", ttl=600)).status == 200
    assert_refused(me(api, project, project.token("u", ttl=3600)), code="token_lifetime_too_long")


def test_a_project_can_require_aud(api: Api, make_project: Any) -> None:
    project = make_project("A")
    other = make_project("B")
    policy_path = f"/projects/{project.id}/token-policy"
    assert api.call("GET", policy_path, headers=project.admin).json == {"requireAudience": False}
    now = int(time.time())
    without_aud = _signed(project, {"sub": "u", "iat": now, "exp": now + 60})
    with_aud = _signed(project, {"sub": "u", "iat": now, "exp": now + 60, "aud": project.id})
    assert me(api, project, without_aud).status == 200

    put = api.call("PUT", policy_path, body={"requireAudience": True}, headers=project.admin)
    assert (put.status, put.json) == (200, {"requireAudience": True})
    assert api.call("GET", policy_path, headers=project.admin).json == {"requireAudience": True}
    assert_refused(
        me(api, project, without_aud),
        code="invalid_audience",
        message="This project requires user tokens to carry an 'aud' claim naming the project.",
    )
    assert me(api, project, with_aud).status == 200
    # Another project's policy is its own.
    assert api.call("GET", f"/projects/{other.id}/token-policy", headers=other.admin).json == {"requireAudience": False}

    assert api.call("PUT", policy_path, body={"requireAudience": False}, headers=project.admin).status == 200
    assert me(api, project, without_aud).status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"requireAudience": "yes"}, "invalid_field"),
        ({"requireAudience": 1}, "invalid_field"),
        ({"requireAudience": None}, "invalid_field"),
        ({"requireAudience": True, "other": 1}, "unknown_field"),
    ],
)
def test_token_policy_refuses_bad_bodies(api: Api, project: ProjectHandle, body: Any, code: str) -> None:
    path = f"/projects/{project.id}/token-policy"
    assert_refused(api.call("PUT", path, body=body, headers=project.admin), status=400, code=code)
    assert api.call("GET", path, headers=project.admin).json == {"requireAudience": False}


def test_token_policy_needs_the_project_key(api: Api, make_project: Any) -> None:
    project = make_project("A")
    other = make_project("B")
    path = f"/projects/{project.id}/token-policy"
    refused = api.call("PUT", path, body={"requireAudience": True}, headers=other.admin)
    assert_refused(refused, code="invalid_project_key")
    assert_refused(api.call("GET", path, token=project.token()), status=401)
    assert api.call("GET", path, headers=project.admin).json == {"requireAudience": False}
