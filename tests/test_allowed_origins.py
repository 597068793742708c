"""A project's allowed origins: the admin API, per-project CORS on the SDK routes (preflights
included), and the connect popup's binding cookie, which only a popup opened by an allowed page
gets. The account-linking attack of issue 7 is played here with the headers a browser sends."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from click.testing import CliRunner

from tests import connect_flow
from tests.conftest import Api, ProjectHandle, Response
from tests.test_sdk_auth import assert_refused
from tether.cli import cli
from wpcom_sandbox.server import WordPressSandbox

APP = "https://app.example"
MALLORY = "https://mallory.example"


def origins_path(project: ProjectHandle) -> str:
    return f"/projects/{project.id}/allowed-origins"


def set_origins(api: Api, project: ProjectHandle, origins: list[Any]) -> Response:
    return api.call("PUT", origins_path(project), body={"allowedOrigins": origins}, headers=project.admin)


def get_origins(api: Api, project: ProjectHandle) -> list[str]:
    response = api.call("GET", origins_path(project), headers=project.admin)
    assert response.status == 200, response.body
    origins: list[str] = response.json["allowedOrigins"]
    assert response.json["anyOrigin"] is (not origins)
    return origins


def credentials_of(project: ProjectHandle, user_id: str) -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    partition = f"PROJECT#{project.id}#USER#{user_id}"
    return [i for i in items if i["PK"] == partition and str(i["SK"]).startswith("CREDENTIAL#")]


# --- admin API --------------------------------------------------------------------------------


def test_origins_are_stored_canonical_and_replaced(api: Api, project: ProjectHandle) -> None:
    assert get_origins(api, project) == []
    saved = set_origins(
        api,
        project,
        [
            "HTTPS://App.Example:443",
            "http://localhost:3000",
            "https://app.example",
            "http://[::1]:8080",
            "http://10.0.0.1",
        ],
    )
    assert saved.status == 200, saved.body
    expected = ["https://app.example", "http://localhost:3000", "http://[::1]:8080", "http://10.0.0.1"]
    assert saved.json == {"allowedOrigins": expected, "anyOrigin": False}
    assert get_origins(api, project) == expected
    assert set_origins(api, project, []).json == {"allowedOrigins": [], "anyOrigin": True}
    assert get_origins(api, project) == []


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example/",
        "https://app.example/path",
        "https://app.example?x=1",
        "https://app.example#top",
        "ftp://app.example",
        "javascript:alert(1)",
        "*",
        "null",
        "app.example",
        "https://user@app.example",
        "https://app.example:0",
        "https://app.example:99999",
        "https://exa mple.com",
        "https://exämple.com",
        "https://-bad-.example",
        "https://app.example</script>",
        "http://[not-ipv6]",
        " https://app.example",
        "https://" + "a" * 300,
        "",
        7,
        None,
    ],
)
def test_a_bad_origin_is_a_400_and_changes_nothing(api: Api, project: ProjectHandle, value: Any) -> None:
    assert set_origins(api, project, [APP]).status == 200
    response = set_origins(api, project, ["http://localhost:3000", value])
    assert_refused(response, status=400, code="invalid_origin")
    assert "allowedOrigins[1]" in response.json["message"]
    assert get_origins(api, project) == [APP]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"allowedOrigins": APP}, "invalid_field"),
        ({"allowedOrigins": [APP], "other": 1}, "unknown_field"),
        ({"allowedOrigins": [f"https://a{i}.example" for i in range(51)]}, "too_many_origins"),
    ],
)
def test_a_bad_body_is_a_400(api: Api, project: ProjectHandle, body: dict[str, Any], code: str) -> None:
    response = api.call("PUT", origins_path(project), body=body, headers=project.admin)
    assert_refused(response, status=400, code=code)
    assert get_origins(api, project) == []


def test_only_the_projects_admin_key_sets_origins(api: Api, make_project: Any) -> None:
    project = make_project("A")
    other = make_project("B")
    body = {"allowedOrigins": [MALLORY]}
    assert_refused(api.call("PUT", origins_path(project), body=body), code="missing_authorization")
    assert_refused(api.call("PUT", origins_path(project), body=body, token=project.token()), code="invalid_project_key")
    assert_refused(api.call("PUT", origins_path(project), body=body, headers=other.admin), code="invalid_project_key")
    assert_refused(api.call("GET", origins_path(project), headers=other.admin), code="invalid_project_key")
    assert get_origins(api, project) == []


def test_the_cli_sets_shows_and_clears_origins(api: Api, project: ProjectHandle) -> None:
    runner = CliRunner()
    origins = ["projects", "origins"]
    result = runner.invoke(
        cli, [*origins, "set", "--project", project.id, "HTTPS://App.Example:443", "http://localhost:3000"]
    )
    assert result.exit_code == 0, result.output
    expected = {"allowedOrigins": [APP, "http://localhost:3000"], "anyOrigin": False}
    assert json.loads(result.stdout) == expected
    shown = runner.invoke(cli, [*origins, "show", "--project", project.id])
    assert json.loads(shown.stdout) == expected
    assert get_origins(api, project) == expected["allowedOrigins"]
    assert preflight(api, f"/projects/{project.id}/sdk/me", MALLORY).status == 403

    bad = runner.invoke(cli, [*origins, "set", "--project", project.id, "https://app.example/path"])
    assert bad.exit_code != 0
    assert "not an origin" in bad.output
    unknown = runner.invoke(cli, [*origins, "set", "--project", "00000000-0000-4000-8000-000000000000", APP])
    assert unknown.exit_code != 0
    assert "No project" in unknown.output
    assert get_origins(api, project) == expected["allowedOrigins"]

    cleared = runner.invoke(cli, [*origins, "clear", "--project", project.id])
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout) == {"allowedOrigins": [], "anyOrigin": True}
    assert preflight(api, f"/projects/{project.id}/sdk/me", MALLORY).headers["Access-Control-Allow-Origin"] == "*"


def test_tether_dev_refuses_a_bad_allow_origin_before_starting(aws_env: None) -> None:
    result = CliRunner().invoke(cli, ["dev", "--port", "0", "--allow-origin", "javascript:alert(1)"])
    assert result.exit_code == 2
    assert "only http and https origins are allowed" in result.output


# --- CORS ---------------------------------------------------------------------------------------


def preflight(api: Api, path: str, origin: str, method: str = "GET") -> Response:
    return api.call(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,x-paragon-sdk-version",
        },
    )


def sdk_paths(project: ProjectHandle) -> list[tuple[str, str]]:
    return [
        (f"/projects/{project.id}/sdk/me", "PATCH"),
        (f"/v2/projects/{project.id}/sdk/actions/build-oauth", "GET"),
        (f"/projects/{project.id}/sdk/actions/session-id/abcdef", "DELETE"),
        (f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", "POST"),
    ]


def test_without_origins_cors_answers_any_origin(api: Api, project: ProjectHandle) -> None:
    for path, method in sdk_paths(project):
        answer = preflight(api, path, MALLORY, method)
        assert answer.status == 200, (path, answer.body)
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert method in answer.headers["Access-Control-Allow-Methods"].split(",")
        assert "authorization" in answer.headers["Access-Control-Allow-Headers"].lower()
    me = api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token(), headers={"Origin": MALLORY})
    assert me.status == 200
    assert me.headers["Access-Control-Allow-Origin"] == "*"


def test_with_origins_cors_answers_only_those(api: Api, project: ProjectHandle) -> None:
    assert set_origins(api, project, [APP, "http://localhost:3000"]).status == 200
    for path, method in sdk_paths(project):
        allowed = preflight(api, path, APP, method)
        assert allowed.status == 200, (path, allowed.body)
        assert allowed.headers["Access-Control-Allow-Origin"] == APP
        assert "Origin" in allowed.headers["Vary"]
        assert method in allowed.headers["Access-Control-Allow-Methods"].split(",")
        refused = preflight(api, path, MALLORY, method)
        assert_refused(refused, status=403, code="origin_not_allowed")
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert "Origin" in refused.headers["Vary"]

    me_path = f"/projects/{project.id}/sdk/me"
    token = project.token()
    from_app = api.call("GET", me_path, token=token, headers={"Origin": "http://localhost:3000"})
    assert from_app.status == 200
    assert from_app.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Origin" in from_app.headers["Vary"]
    # A page elsewhere gets no answer it may read, and nothing happens.
    patched = api.call("PATCH", me_path, token=token, body={"meta": {"x": 1}}, headers={"Origin": MALLORY})
    assert_refused(patched, status=403, code="origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in patched.headers
    assert api.call("GET", me_path, token=token).json["meta"] == {}
    # Look-alikes of an allowed origin are other origins.
    for lookalike in ("https://app.example:8443", "http://app.example", "https://app.example.evil", "null"):
        assert api.call("GET", me_path, token=token, headers={"Origin": lookalike}).status == 403, lookalike
    # A server (no Origin header) is served, without CORS headers.
    server = api.call("GET", me_path, token=token)
    assert server.status == 200
    assert "Access-Control-Allow-Origin" not in server.headers
    # Errors carry the CORS headers too, so the SDK can read the message.
    unauthorised = api.call("GET", me_path, headers={"Origin": APP})
    assert unauthorised.status == 401
    assert unauthorised.headers["Access-Control-Allow-Origin"] == APP


def test_clearing_origins_restores_any_origin(api: Api, project: ProjectHandle) -> None:
    path = f"/projects/{project.id}/sdk/me"
    assert set_origins(api, project, [APP]).status == 200
    assert preflight(api, path, MALLORY).status == 403
    assert set_origins(api, project, []).status == 200
    assert preflight(api, path, MALLORY).headers["Access-Control-Allow-Origin"] == "*"


def test_one_projects_origins_do_not_apply_to_another(api: Api, make_project: Any) -> None:
    strict = make_project("strict")
    open_project = make_project("open")
    assert set_origins(api, strict, [APP]).status == 200
    assert preflight(api, f"/projects/{open_project.id}/sdk/me", MALLORY).headers["Access-Control-Allow-Origin"] == "*"
    assert preflight(api, f"/projects/{strict.id}/sdk/me", MALLORY).status == 403


# --- the connect popup ------------------------------------------------------------------------


def test_the_account_linking_attack_is_refused(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    """Issue 7, item 1, as a script. Mallory asks for a consent URL as herself, opens the popup
    with her own user token from her page, and sends the popup to the consent URL; the victim
    approves with their WordPress.com account."""
    assert set_origins(api, project, [APP]).status == 200
    mallory_token = project.token("mallory")
    session_id = secrets.token_hex(8)
    built = connect_flow.build_oauth(api, project, mallory_token, session_id)  # from Mallory's server
    assert built.status == 200, built.body

    # In the victim's browser: Mallory's page opens the popup at oauth-nonce with her token.
    popup = connect_flow.open_popup(api, project, mallory_token, MALLORY)
    assert popup.status == 403
    assert "Set-Cookie" not in popup.headers
    assert b"mallory.example" in popup.body
    assert b"oauth-nonce-loaded" not in popup.body
    # Claiming the app's origin for the message does not help: the Referer names Mallory's page.
    claimed = connect_flow.open_popup(api, project, mallory_token, APP, Referer=f"{MALLORY}/page")
    assert claimed.status == 403
    assert "Set-Cookie" not in claimed.headers

    # The popup goes on to the consent page; the victim approves; the provider sends the popup
    # back to Tether's callback. The victim's browser holds no binding cookie.
    consent = requests.get(
        built.json["redirectUrl"] + "&sandbox_auto=approve&sandbox_user=alicebaker", allow_redirects=False, timeout=10
    )
    assert consent.status_code in (302, 303), consent.text
    location = urlsplit(consent.headers["Location"])
    page = api.call("GET", f"{location.path}?{location.query}")
    assert page.status == 403
    assert credentials_of(project, "mallory") == []
    assert sandbox.state.recorded_requests("/oauth2/token") == []  # the victim's code was never redeemed
    polled = api.call("GET", f"/projects/{project.id}/sdk/actions/session-id/{session_id}", token=mallory_token)
    assert "connectCredentialId" not in polled.json


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (connect_flow.popup_headers(APP, referer=None), b"popup_opener_unknown"),
        ({"Referer": f"{MALLORY}/"}, b"popup_origin_not_allowed"),
        ({"Referer": "not a url"}, b"popup_opener_unknown"),
        ({**connect_flow.popup_headers(APP), "Sec-Fetch-Dest": "iframe"}, b"popup_not_opened_by_app"),
        ({**connect_flow.popup_headers(APP), "Sec-Fetch-Mode": "no-cors"}, b"popup_not_opened_by_app"),
        (
            {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
            b"popup_not_opened_by_app",
        ),
    ],
)
def test_the_popup_is_bound_only_when_an_allowed_page_opened_it(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, headers: dict[str, str], code: bytes
) -> None:
    assert set_origins(api, project, [APP]).status == 200
    path = (
        f"/projects/{project.id}/sdk/actions/oauth-nonce?action=wordpress&originForPostMessage=https%3A%2F%2Fapp.example"
        f"&userToken={project.token('alice')}"
    )
    # Only the headers given: `open_popup` would add a browser's defaults.
    page = api.call("GET", path, headers=headers)
    assert page.status == 403, page.body
    assert "Set-Cookie" not in page.headers
    assert b"oauth-nonce-loaded" not in page.body
    assert b'<code id="code">' + code + b"</code>" in page.body
    allowed = api.call("GET", path, headers=connect_flow.popup_headers(APP, referer=f"{APP}/settings/connections"))
    assert allowed.status == 200, allowed.body
    assert "tether_connect=" in allowed.headers["Set-Cookie"]


def test_the_popup_message_target_must_be_an_allowed_origin(api: Api, project: ProjectHandle) -> None:
    assert set_origins(api, project, [APP]).status == 200
    page = connect_flow.open_popup(api, project, project.token(), "https://elsewhere.example", Referer=f"{APP}/")
    assert page.status == 403
    assert "Set-Cookie" not in page.headers
    assert b"origin_not_allowed" in page.body


def test_the_sdk_flow_from_an_allowed_origin_connects(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    assert set_origins(api, project, [APP]).status == 200
    attempt = connect_flow.start(api, project, sandbox, "alice", opener=APP)
    page = connect_flow.callback(api, attempt)
    assert page.status == 200, page.body
    [stored] = credentials_of(project, "alice")
    polled = api.call(
        "GET", f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}", token=attempt.token
    ).json
    assert polled["connectCredentialId"] == str(stored["SK"]).removeprefix("CREDENTIAL#")


def test_without_origins_any_opener_is_bound(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    """Today's behaviour, kept for projects that list no origins (the README's residual risk)."""
    page = connect_flow.open_popup(api, project, project.token(), MALLORY)
    assert page.status == 200
    assert "tether_connect=" in page.headers["Set-Cookie"]
