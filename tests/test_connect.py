"""The headless connect flow against the WordPress.com sandbox: success, refusals, faults,
reconnects, uninstall, dev-keys cap and credential health."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_connect_races import FakeClock
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox


def credentials_in_table() -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    return [item for item in items if str(item["SK"]).startswith("CREDENTIAL#")]


def me(api: Api, project: ProjectHandle, user_id: str = "user-1") -> Any:
    return api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token(user_id)).json


def session(api: Api, attempt: connect_flow.Attempt) -> Any:
    path = f"/projects/{attempt.project.id}/sdk/actions/session-id/{attempt.session_id}"
    return api.call("GET", path, token=attempt.token)


def test_connect_stores_a_valid_encrypted_credential(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    assert session(api, attempt).json["status"] == "PENDING"
    page = connect_flow.callback(api, attempt)
    assert page.status == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert b"Connected" in page.body

    polled = session(api, attempt).json
    credential_id = polled["connectCredentialId"]
    credential = api.call("GET", f"/projects/{project.id}/sdk/credentials/{credential_id}", token=attempt.token).json
    assert credential["status"] == "VALID"
    [issued] = sandbox.state.issued_tokens()
    assert credential["providerId"] == str(issued.user_id)
    assert credential["providerData"]["blog_id"] == str(issued.blog_id)
    assert credential["providerData"]["blog_url"].startswith("https://")
    # The account's own fields, besides those that came with the token.
    assert set(credential["providerData"]) == {
        "username",
        "display_name",
        "primary_blog",
        "primary_blog_url",
        "blog_id",
        "blog_url",
    }, credential["providerData"]
    assert credential["providerData"]["username"] == "alicebaker"
    assert credential["configurations"][0]["connectCredentialId"] == credential_id
    assert issued.token not in page.body.decode()

    state = me(api, project, "alice")["integrations"]["wordpress"]
    assert state["enabled"] is True
    assert state["credentialStatus"] == "VALID"
    assert state["credentialId"] == credential_id

    # Stored encrypted: the raw item holds no plaintext token.
    [item] = credentials_in_table()
    assert issued.token not in repr(item)
    assert item["sealed"]["kid"]

    deleted = api.call(
        "DELETE", f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}", token=attempt.token
    )
    assert deleted.status == 200
    assert session(api, attempt).status == 404


def assert_refused_page(page: Any, status: int, detail: str) -> None:
    """The callback's page for a refusal: its status, title and the reason in plain words."""
    assert page.status == status, page.body
    assert b'<h1 class="error" id="result" data-ok="false">Connection failed</h1>' in page.body
    assert f'<p id="detail">{html.escape(detail)}</p>'.encode() in page.body


def test_state_used_twice_stores_nothing_more(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    assert connect_flow.callback(api, attempt).status == 200
    [stored] = credentials_in_table()
    completed = session(api, attempt).json
    exchanges = len(sandbox.state.recorded_requests("/oauth2/token"))
    for _ in range(2):
        replay = connect_flow.callback(api, attempt)
        assert replay.status == 400
        assert b'data-ok="false"' in replay.body
    # A replay changes nothing: no second code exchange, the same stored item, the session as it was.
    assert len(sandbox.state.recorded_requests("/oauth2/token")) == exchanges == 1
    assert credentials_in_table() == [stored]
    assert session(api, attempt).json == completed
    assert completed["status"] == "COMPLETE"


def test_a_stranger_can_neither_use_nor_burn_a_state(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "victim")
    mallory_cookie = connect_flow.binding_cookie(api, project, project.token("mallory"))
    for cookie in (mallory_cookie, None, "x" * 32):
        page = connect_flow.callback(api, attempt, cookie=cookie)
        assert_refused_page(page, 403, "This sign-in was started by someone else or in another browser.")
        assert credentials_in_table() == []
        # Neither the state nor the session is touched: the victim's own window still finishes.
        assert session(api, attempt).json == {"id": attempt.session_id, "status": "PENDING"}
    assert sandbox.state.recorded_requests("/oauth2/token") == []
    page = connect_flow.callback(api, attempt)
    assert page.status == 200, page.body
    assert session(api, attempt).json["status"] == "COMPLETE"
    [stored] = credentials_in_table()
    assert stored["PK"] == f"PROJECT#{project.id}#USER#victim"


@pytest.mark.parametrize(
    "template",
    [
        'cookie-consent={{"a":true, "b":false}}; tether_connect={value}',
        'tether_connect={value}; cookie-consent={{"a":true, "b":false}}',
        'theme=dark; broken="unterminated; tether_connect={value}; other=1',
        "a=b;tether_connect={value}",
        'tether_connect="{value}"; x=[1,2]',
        "\u00e9t\u00e9=oui; tether_connect={value}",
    ],
)
def test_an_unrelated_malformed_cookie_does_not_hide_the_binding(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, template: str
) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    header = template.format(value=attempt.cookie)
    page = api.call("GET", attempt.callback_path, headers={"Cookie": header})
    assert page.status == 200, page.body
    assert len(credentials_in_table()) == 1


@pytest.mark.parametrize("cookie", [None, "caf\u00e9", "x" * 500])
def test_callback_without_the_popup_cookie_is_refused(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, cookie: str | None
) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    page = connect_flow.callback(api, attempt, cookie=cookie)
    assert_refused_page(page, 403, "This sign-in was started by someone else or in another browser.")
    assert credentials_in_table() == []


def test_a_cookie_that_is_not_valid_unicode_is_a_400_that_leaves_the_attempt_alive(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    # A lone surrogate cannot be encoded as UTF-8: refused before the binding is compared.
    page = connect_flow.callback(api, attempt, cookie="\ud800")
    assert page.status == 400
    assert b'<code id="code">invalid_encoding</code>' in page.body
    assert session(api, attempt).json == {"id": attempt.session_id, "status": "PENDING"}
    assert connect_flow.callback(api, attempt).status == 200
    assert len(credentials_in_table()) == 1


def test_another_projects_state_is_refused(api: Api, make_project: Any, sandbox: WordPressSandbox) -> None:
    project_a = make_project("A")
    project_b = make_project("B")
    attempt = connect_flow.start(api, project_a, sandbox)
    # Re-addressing A's state to project B finds nothing.
    forged = attempt.callback_path.replace(project_a.id, project_b.id)
    assert forged != attempt.callback_path
    page = connect_flow.callback(api, attempt, path=forged)
    assert page.status == 400
    assert credentials_in_table() == []
    # B's user cannot read A's session either.
    other = api.call(
        "GET", f"/projects/{project_b.id}/sdk/actions/session-id/{attempt.session_id}", token=project_b.token()
    )
    assert_refused(other, status=404)


def test_expired_state_is_refused(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    from chalicelib.services.connect import STATE_TTL_SECONDS
    from chalicelib.wiring import get_services

    clock = FakeClock(float(int(time.time())))
    get_services().clock = clock
    attempt = connect_flow.start(api, project, sandbox)
    clock.now += STATE_TTL_SECONDS
    page = connect_flow.callback(api, attempt)
    assert_refused_page(page, 400, "The connection attempt expired; please start again.")
    assert credentials_in_table() == []
    # The SDK's polling ends with the same error.
    failed = session(api, attempt).json
    assert (failed["status"], failed["error"]["code"]) == ("ERROR", "state_expired")


def test_state_works_until_its_last_second(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    from chalicelib.services.connect import STATE_TTL_SECONDS
    from chalicelib.wiring import get_services

    clock = FakeClock(float(int(time.time())))
    get_services().clock = clock
    attempt = connect_flow.start(api, project, sandbox)
    clock.now += STATE_TTL_SECONDS - 1
    page = connect_flow.callback(api, attempt)
    assert page.status == 200, page.body
    assert len(credentials_in_table()) == 1


def test_denied_consent_ends_the_sdk_polling_with_the_error(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, decision="deny")
    assert attempt.callback_query()["error"] == "access_denied"
    page = connect_flow.callback(api, attempt)
    assert page.status == 400
    assert b"did not grant access" in page.body
    polled = session(api, attempt).json
    assert polled["status"] == "ERROR"
    assert polled["error"]["code"] == "oauth_access_denied"
    # The SDK fetches the credential it was pointed at, and surfaces this error's message.
    failed = api.call(
        "GET", f"/projects/{project.id}/sdk/credentials/{polled['connectCredentialId']}", token=attempt.token
    )
    assert_refused(failed, status=422, code="oauth_access_denied")
    assert credentials_in_table() == []


def test_provider_error_text_is_escaped(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    attempt = connect_flow.start(api, project, sandbox, decision="deny")
    query = attempt.callback_query()
    path = (
        f"/oauth/callback?state={query['state']}&error=access_denied"
        "&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    )
    page = connect_flow.callback(api, attempt, path=path)
    assert b"<script>alert(1)</script>" not in page.body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.body


DENIED = "WordPress.com did not grant access"
# What the provider's redirect carries besides the state -> the page's status and reason, and the
# error code the SDK's polling ends with.
CALLBACK_ERRORS: dict[str, tuple[str, int, str, str]] = {
    "access denied, no description": ("error=access_denied", 400, f"{DENIED} (access_denied).", "oauth_access_denied"),
    "an empty description": (
        "error=access_denied&error_description=",
        400,
        f"{DENIED} (access_denied).",
        "oauth_access_denied",
    ),
    "another error, described": (
        "error=server_error&error_description=Try+later",
        400,
        f"{DENIED} (server_error): Try later",
        "oauth_error",
    ),
    "the error cut to 64 characters": ("error=" + "e" * 65, 400, f"{DENIED} ({'e' * 64}).", "oauth_error"),
    "the description cut to 300": (
        "error=x&error_description=" + "d" * 301,
        400,
        f"{DENIED} (x): {'d' * 300}",
        "oauth_error",
    ),
    "no code": ("", 400, "WordPress.com sent no authorization code.", "missing_code"),
    "an empty code": ("code=", 400, "WordPress.com sent no authorization code.", "missing_code"),
    "a code over 2048 characters": (
        "code=" + "c" * 2049,
        400,
        "WordPress.com sent no authorization code.",
        "missing_code",
    ),
    # Up to the cap, a code is the provider's to judge: the sandbox refuses it.
    "a code of 2048 characters": ("code=" + "c" * 2048, 400, "", "oauth_invalid_grant"),
    "a garbage code": ("code=garbage-code", 400, "", "oauth_invalid_grant"),
}


@pytest.mark.parametrize("case", CALLBACK_ERRORS)
def test_each_callback_error_ends_the_attempt_with_its_reason(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, case: str
) -> None:
    extra, status, detail, code = CALLBACK_ERRORS[case]
    attempt = connect_flow.start(api, project, sandbox)
    exchanges = len(sandbox.state.recorded_requests("/oauth2/token"))
    path = f"/oauth/callback?state={quote(attempt.callback_query()['state'])}" + (f"&{extra}" if extra else "")
    page = connect_flow.callback(api, attempt, path=path)
    polled = session(api, attempt).json
    assert (polled["status"], polled["error"]["code"]) == ("ERROR", code), polled
    if detail:
        assert_refused_page(page, status, detail)
        assert polled["error"]["message"] == detail
        # Refused before the provider was asked.
        assert len(sandbox.state.recorded_requests("/oauth2/token")) == exchanges
    else:
        assert page.status == status
        assert len(sandbox.state.recorded_requests("/oauth2/token")) == exchanges + 1
    assert credentials_in_table() == []


def test_a_project_gone_before_the_callback_is_a_404_recorded_on_the_session(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    from chalicelib.adapters import keys
    from chalicelib.wiring import get_services

    attempt = connect_flow.start(api, project, sandbox)
    table = boto3.resource("dynamodb").Table("tether-test")
    table.delete_item(Key=keys.project(project.id).as_item())
    get_services().project_configs.invalidate(project.id)
    page = connect_flow.callback(api, attempt)
    assert_refused_page(page, 404, "The project no longer exists.")
    # Its user tokens no longer verify, so the session is read from the table.
    [stored] = [item for item in table.scan()["Items"] if item["SK"] == f"SESSION#{attempt.session_id}"]
    assert (stored["errorCode"], stored["errorMessage"]) == ("project_not_found", "The project no longer exists.")
    assert credentials_in_table() == []


@pytest.mark.parametrize(
    ("status", "body", "content_type", "delay", "expected"),
    [
        (500, {"error": "server_error"}, "application/json", 0.0, b"failed (status 500)"),
        (200, "<html><body>Limit reached</body></html>", "text/html", 0.0, b"not JSON"),
        (200, {"access_token": "late"}, "application/json", 3.0, b"did not answer in time"),
    ],
)
def test_token_endpoint_faults(
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    status: int,
    body: Any,
    content_type: str,
    delay: float,
    expected: bytes,
) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    sandbox.state.fail_next("/oauth2/token", status, body, content_type=content_type, delay=delay)
    page = connect_flow.callback(api, attempt)
    assert page.status == 502
    assert expected in page.body
    polled = session(api, attempt).json
    assert polled["status"] == "ERROR"
    assert credentials_in_table() == []


def test_a_long_provider_refusal_is_shown_whole_and_kept_on_the_session_cut_to_500_characters(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox)
    # The provider's error and description are each cut to 300 characters: 645 in all.
    sandbox.state.fail_next("/oauth2/token", 400, {"error": "e" * 400, "error_description": "d" * 400})
    page = connect_flow.callback(api, attempt)
    message = "WordPress.com refused the authorization: " + "e" * 300 + " (" + "d" * 300 + ")"
    assert_refused_page(page, 400, message)
    polled = session(api, attempt).json["error"]
    assert polled["message"] == message[:500]
    assert credentials_in_table() == []


def test_a_session_that_cannot_be_marked_complete_is_a_storage_error_not_a_silent_success(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the failure swallowed, the popup would say connected while the SDK polls a pending
    session until it gives up."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters import aws
    from chalicelib.config import get_settings

    attempt = connect_flow.start(api, project, sandbox)
    table = aws.dynamodb_table(get_settings().table_name)
    update_item = table.update_item

    def failing_update_item(**kwargs: Any) -> Any:
        if str(kwargs["Key"]["SK"]).startswith("SESSION#"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "UpdateItem")
        return update_item(**kwargs)

    monkeypatch.setattr(table, "update_item", failing_update_item)
    page = connect_flow.callback(api, attempt)
    assert page.status == 502, page.body
    assert b'data-ok="false"' in page.body
    monkeypatch.undo()
    assert session(api, attempt).json["status"] == "PENDING"


def test_reconnecting_the_same_account_updates_the_credential(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    first = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    second = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    assert first == second
    assert len(credentials_in_table()) == 1


def test_a_second_account_replaces_the_first_unless_multiple_allowed(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    users = [u.username for u in sandbox.state.all_users()]
    first = connect_flow.connect(api, project, sandbox, "alice", sandbox_user=users[0])
    second = connect_flow.connect(api, project, sandbox, "alice", sandbox_user=users[1])
    assert first != second
    assert [i["credentialId"] for i in credentials_in_table()] == [second]
    third = connect_flow.connect(
        api,
        project,
        sandbox,
        "alice",
        sandbox_user=users[2],
        install_options='{"allowMultipleCredentials": true}',
    )
    assert {i["credentialId"] for i in credentials_in_table()} == {second, third}
    state = me(api, project, "alice")["integrations"]["wordpress"]
    assert len(state["allCredentials"]) == 2
    # Without allowMultipleCredentials, a new account replaces every earlier one, not just the first.
    last = connect_flow.connect(api, project, sandbox, "alice", sandbox_user=users[0])
    assert [i["credentialId"] for i in credentials_in_table()] == [last]


def test_uninstall_deletes_the_credential_and_its_token(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    integration_id = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token("alice")).json[0][
        "id"
    ]
    # Bob cannot uninstall Alice's credential.
    bob = api.call(
        "DELETE",
        f"/projects/{project.id}/sdk/integrations/{integration_id}",
        token=project.token("bob"),
        headers={"X-Paragon-Credential": credential_id},
    )
    assert_refused(bob, status=404)
    removed = api.call(
        "DELETE",
        f"/projects/{project.id}/sdk/integrations/{integration_id}",
        token=project.token("alice"),
        headers={"X-Paragon-Credential": credential_id},
    )
    assert removed.status == 200
    assert removed.json["deletedCredentialIds"] == [credential_id]
    assert credentials_in_table() == []
    assert me(api, project, "alice")["integrations"]["wordpress"]["enabled"] is False


def test_one_user_cannot_read_anothers_credential_or_session(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    connect_flow.callback(api, attempt)
    credential_id = session(api, attempt).json["connectCredentialId"]
    bob = project.token("bob")
    path = f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}"
    assert_refused(api.call("GET", path, token=bob), status=404)
    assert_refused(api.call("GET", f"/projects/{project.id}/sdk/credentials/{credential_id}", token=bob), status=404)
    assert api.call("GET", f"/projects/{project.id}/sdk/credentials", token=bob).json == []


def test_dev_keys_cap(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_DEV_KEYS_MAX_USERS", "2")
    reset_services()
    connect_flow.connect(api, project, sandbox, "u1")
    connect_flow.connect(api, project, sandbox, "u2")
    connect_flow.connect(api, project, sandbox, "u1")  # an admitted user may reconnect
    refused = connect_flow.build_oauth(api, project, project.token("u3"), "session-u3")
    # The message tells the developer what to do about it, word for word.
    message = (
        "This project uses Tether's development keys, which allow 2 connected users. "
        "Configure your own client id and secret to connect more."
    )
    assert_refused(refused, status=403, code="dev_keys_user_cap", message=message)
    integrations = api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token("u3")).json
    assert integrations[0]["usesDevelopmentKeys"] is True
    # Freeing a seat admits the next user.
    u1 = api.call("GET", f"/projects/{project.id}/users/u1", headers=project.admin).json
    api.call(
        "DELETE", f"/projects/{project.id}/users/u1/credentials/{u1['credentials'][0]['id']}", headers=project.admin
    )
    assert connect_flow.build_oauth(api, project, project.token("u3"), "session-u3").status == 200


def test_revoked_token_makes_the_credential_invalid_until_reconnect(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker")
    [issued] = sandbox.state.issued_tokens()
    sandbox.state.revoke_token(issued.token)
    checked = api.call(
        "POST", f"/projects/{project.id}/sdk/credentials/{credential_id}/check", token=project.token("alice")
    )
    assert checked.json["status"] == "INVALID"
    state = me(api, project, "alice")["integrations"]["wordpress"]
    assert state["credentialStatus"] == "INVALID"
    assert state["enabled"] is False
    assert connect_flow.connect(api, project, sandbox, "alice", sandbox_user="alicebaker") == credential_id
    assert me(api, project, "alice")["integrations"]["wordpress"]["credentialStatus"] == "VALID"


def test_the_state_is_the_project_id_and_256_random_bits(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    states = set()
    for n in range(3):
        built = connect_flow.build_oauth(api, project, project.token("alice"), f"session-{n}")
        query = parse_qs(urlsplit(built.json["redirectUrl"]).query)
        # WordPress.com takes no PKCE: no code_challenge is sent.
        assert sorted(query) == ["client_id", "redirect_uri", "response_type", "state"]
        state = query["state"][0]
        project_id, _, random_part = state.partition(".")
        assert project_id == project.id
        # token_urlsafe(32): 32 bytes, 43 characters of unpadded URL-safe base64.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", random_part), random_part
        states.add(state)
    assert len(states) == 3


def test_build_oauth_refusals(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    token = project.token("alice")
    assert_refused(
        connect_flow.build_oauth(api, project, token, "bad id!"),
        status=400,
        code="invalid_session_id",
        message="oauthMetaKeyId must be 6-128 letters, digits, '-' or '_'.",
    )
    bad_options = connect_flow.build_oauth(api, project, token, "session-1", install_options="{not json")
    assert_refused(bad_options, status=400, code="invalid_install_options")
    unknown = api.call(
        "GET", f"/v2/projects/{project.id}/sdk/actions/build-oauth?action=myspace&oauthMetaKeyId=abcdef", token=token
    )
    assert_refused(unknown, status=404, code="unknown_integration")
    no_token = api.call("GET", f"/v2/projects/{project.id}/sdk/actions/build-oauth?action=wordpress")
    assert_refused(no_token, status=401)


def test_oauth_nonce_page(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    token = project.token("alice")
    page = api.call(
        "GET",
        f"/projects/{project.id}/sdk/actions/oauth-nonce?action=wordpress&userToken={token}"
        "&originForPostMessage=http%3A%2F%2Fapp.test%3A3000",
    )
    assert page.status == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert b"oauth-nonce-loaded" in page.body
    assert b'"http://app.test:3000"' in page.body
    assert token.encode() not in page.body
    refused = api.call("GET", f"/projects/{project.id}/sdk/actions/oauth-nonce?userToken=garbage")
    assert refused.status == 401
    assert "Set-Cookie" not in refused.headers


@pytest.mark.parametrize(
    "hostile",
    [
        "*",
        "javascript:alert(1)",
        "null",
        "http://app.test/path",
        "http://app.test:3000/</script><script>alert(1)</script>",
        "http://app.test</script><script>alert(1)</script>",
        "https://app.test\u2028x",
        "data:text/html,x",
        "//app.test",
        "",
        None,
    ],
)
def test_a_hostile_origin_for_post_message_is_refused(api: Api, project: ProjectHandle, hostile: str | None) -> None:
    path = f"/projects/{project.id}/sdk/actions/oauth-nonce?action=wordpress&userToken={project.token('alice')}"
    if hostile is not None:
        path += "&originForPostMessage=" + quote(hostile, safe="")
    page = api.call("GET", path)
    assert page.status == 400, page.body
    assert b"invalid_origin_for_post_message" in page.body
    assert "Set-Cookie" not in page.headers
    assert b"oauth-nonce-loaded" not in page.body
    assert b"postMessage" not in page.body
    assert b"alert(1)" not in page.body


def test_values_in_the_popup_script_cannot_close_it() -> None:
    """Defence in depth behind the origin check: whatever reaches the popup page's script is a
    string literal that cannot end the <script> element or open an HTML comment."""
    from chalicelib.api.pages import oauth_nonce_page

    hostile = "http://app.test</script><script>alert(1)</script><!--&"
    body = bytes(oauth_nonce_page(hostile, "tether_connect=x").body).decode()
    assert body.count("<script") == 1
    assert body.count("</script>") == 1
    assert "<!--" not in body
    script = body[body.index("<script") : body.index("</script>")]
    literal = script[script.index("'oauth-nonce-loaded'},") + len("'oauth-nonce-loaded'},") : script.index(");}}")]
    assert json.loads(literal) == hostile


def test_admin_users_api(api: Api, make_project: Any, sandbox: WordPressSandbox) -> None:
    project = make_project("A")
    other = make_project("B")
    for user in ("u1", "u2", "u3"):
        me(api, project, user)
    credential_id = connect_flow.connect(api, project, sandbox, "u2")
    first = api.call("GET", f"/projects/{project.id}/users?limit=2", headers=project.admin).json
    assert [u["id"] for u in first["users"]] == ["u3", "u2"]
    rest = api.call(
        "GET", f"/projects/{project.id}/users?limit=2&cursor={first['nextCursor']}", headers=project.admin
    ).json
    assert [u["id"] for u in rest["users"]] == ["u1"]
    assert rest["nextCursor"] is None

    detail = api.call("GET", f"/projects/{project.id}/users/u2", headers=project.admin)
    [credential] = detail.json["credentials"]
    assert credential["id"] == credential_id
    assert credential["status"] == "VALID"
    assert credential["providerData"]["blog_id"]
    assert "token" not in detail.body.decode().lower().replace("usesdevelopmentkeys", "")

    assert_refused(api.call("GET", f"/projects/{project.id}/users", headers=other.admin), code="invalid_project_key")
    assert_refused(api.call("GET", f"/projects/{project.id}/users/nobody", headers=project.admin), status=404)
    assert_refused(api.call("GET", f"/projects/{project.id}/users?limit=0", headers=project.admin), status=400)
    bad_cursor = api.call("GET", f"/projects/{project.id}/users?cursor=xyz", headers=project.admin)
    assert_refused(bad_cursor, status=400, code="invalid_cursor")

    removed = api.call("DELETE", f"/projects/{project.id}/users/u2/credentials/{credential_id}", headers=project.admin)
    assert removed.status == 204
    assert credentials_in_table() == []
    again = api.call("DELETE", f"/projects/{project.id}/users/u2/credentials/{credential_id}", headers=project.admin)
    assert_refused(again, status=404)


def test_a_failed_save_gives_the_dev_keys_seat_back(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    from chalicelib.adapters.connections import DevKeyUsage

    real_call = BaseClient._make_api_call

    def failing_writes(self: Any, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "test"}}, operation)
        return real_call(self, operation, params)

    attempt = connect_flow.start(api, project, sandbox, "alice")
    monkeypatch.setattr(BaseClient, "_make_api_call", failing_writes)
    page = connect_flow.callback(api, attempt)
    monkeypatch.setattr(BaseClient, "_make_api_call", real_call)
    assert page.status == 502
    assert session(api, attempt).json["status"] == "ERROR"
    from chalicelib.wiring import get_services

    usage: DevKeyUsage = get_services().dev_key_usage
    assert usage.users(project.id) == set()
    assert credentials_in_table() == []


def test_health_check_asks_with_the_client_that_issued_the_token(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")  # through the dev keys
    own = sandbox.state.register_client("Customer app", "http://127.0.0.1:9/oauth/callback")
    body = {"clientId": own.client_id, "clientSecret": own.client_secret, "scopes": [], "active": True}
    assert (
        api.call("PUT", f"/projects/{project.id}/integrations/wordpress", body=body, headers=project.admin).status
        == 200
    )
    checked = api.call(
        "POST", f"/projects/{project.id}/sdk/credentials/{credential_id}/check", token=project.token("alice")
    )
    assert checked.status == 200
    assert checked.json["status"] == "VALID"
    assert checked.json["usesDevelopmentKeys"] is True


def _assert_start_failure_is_reported(api: Api, project: ProjectHandle, user_id: str, status: int, code: str) -> None:
    """build-oauth refuses; the session polls as failed with that error (so the SDK's poller ends
    and `installIntegration` rejects with the message); the popup's first page shows it."""
    token = project.token(user_id)
    session_id = f"start-{user_id}"
    refused = connect_flow.build_oauth(api, project, token, session_id)
    assert_refused(refused, status=status, code=code)
    polled = api.call("GET", f"/projects/{project.id}/sdk/actions/session-id/{session_id}", token=token).json
    assert polled["status"] == "ERROR"
    assert polled["error"] == {"code": code, "message": refused.json["message"]}
    failed = api.call("GET", f"/projects/{project.id}/sdk/credentials/{polled['connectCredentialId']}", token=token)
    assert_refused(failed, status=422, code=code)
    assert failed.json["message"] == refused.json["message"]
    popup = connect_flow.open_popup(api, project, token)
    assert popup.status == status
    assert f'<code id="code">{code}</code>'.encode() in popup.body
    assert html.escape(refused.json["message"]).encode() in popup.body
    assert b"oauth-nonce-loaded" not in popup.body
    assert "Set-Cookie" not in popup.headers


def test_a_session_whose_credential_was_disconnected_polls_as_failed(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    assert connect_flow.callback(api, attempt).status == 200
    session_path = f"/projects/{project.id}/sdk/actions/session-id/{attempt.session_id}"
    credential_id = api.call("GET", session_path, token=attempt.token).json["connectCredentialId"]
    removed = api.call(
        "DELETE", f"/projects/{project.id}/users/alice/credentials/{credential_id}", headers=project.admin
    )
    assert removed.status == 204, removed.body
    message = "The account connected here was disconnected or replaced by a later connection."
    for _ in range(2):  # the first poll records the failure; the second reads it back
        polled = api.call("GET", session_path, token=attempt.token).json
        assert polled["connectCredentialId"] == f"failed-{attempt.session_id}"
        assert polled["error"] == {"code": "credential_removed", "message": message}
    failed = api.call("GET", f"/projects/{project.id}/sdk/credentials/failed-{attempt.session_id}", token=attempt.token)
    assert_refused(failed, status=422, code="credential_removed", message=message)


def test_the_scopes_granted_are_stored_on_the_credential(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    body = {"clientId": None, "scopes": ["posts", "media"], "active": True}
    stored = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", headers=project.admin, body=body)
    assert stored.status == 200, stored.body
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    path = f"/projects/{project.id}/sdk/credentials/{credential_id}"
    credential = api.call("GET", path, token=project.token("alice")).json
    assert sorted(credential["scopes"]) == ["media", "posts"]


UNKNOWN_STATE = "This sign-in response was already used or is not known."
MISSING_STATE = "The sign-in response is missing a valid state."


@pytest.mark.parametrize(
    ("tail", "detail"),
    [
        (".a.b", UNKNOWN_STATE),  # a project id, then more than one dot: still a lookup, not a parse error
        ("." + "a" * 163, UNKNOWN_STATE),  # 200 characters in all: the longest looked up
        ("." + "a" * 164, MISSING_STATE),  # 201 characters
    ],
)
def test_a_state_naming_the_project_is_looked_up_only_up_to_200_characters(
    api: Api, project: ProjectHandle, tail: str, detail: str
) -> None:
    page = api.call("GET", f"/oauth/callback?state={quote(project.id + tail)}&code=abc")
    assert page.status == 400
    assert b'<h1 class="error" id="result" data-ok="false">Connection failed</h1>' in page.body
    assert f'<p id="detail">{detail}</p>'.encode() in page.body


@pytest.mark.parametrize(
    "state",
    [
        "",
        "no-project-here",
        "not-a-uuid.abc",
        "{PROJECT}.abc",  # a project id in upper case is not how Tether writes one
        "{{{project}}}.abc",  # braces, which uuid.UUID() accepts
    ],
)
def test_a_state_that_does_not_start_with_a_project_id_is_refused_without_a_lookup(
    api: Api, project: ProjectHandle, state: str
) -> None:
    forged = state.format(project=project.id, PROJECT=project.id.upper())
    page = api.call("GET", f"/oauth/callback?state={quote(forged)}&code=abc")
    assert_refused_page(page, 400, MISSING_STATE)


def test_the_failed_id_of_a_session_that_has_not_failed_is_a_404(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    path = f"/projects/{project.id}/sdk/credentials/failed-{attempt.session_id}"
    pending = api.call("GET", path, token=attempt.token)
    assert_refused(pending, status=404, code="credential_not_found", message="No such credential.")


def test_an_unknown_integration_name_is_stored_on_the_failed_session_cut_to_64_characters(
    api: Api, project: ProjectHandle
) -> None:
    token = project.token("alice")
    name = "n" * 100
    path = f"/v2/projects/{project.id}/sdk/actions/build-oauth?action={name}&oauthMetaKeyId=long-name"
    assert_refused(api.call("GET", path, token=token), status=404, code="unknown_integration")
    polled = api.call("GET", f"/projects/{project.id}/sdk/actions/session-id/long-name", token=token).json
    assert (polled["status"], polled["error"]["code"]) == ("ERROR", "unknown_integration")
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    [stored] = [item for item in items if item["SK"] == "SESSION#long-name"]
    assert stored["integrationType"] == name[:64]


def test_a_start_failure_that_cannot_be_recorded_is_still_answered_and_logged(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from chalicelib.domain.errors import TetherError
    from chalicelib.wiring import get_services

    body = {"clientId": None, "scopes": [], "active": False}
    stored = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", headers=project.admin, body=body)
    assert stored.status == 200, stored.body

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise TetherError("The data store is unavailable.")

    monkeypatch.setattr(get_services().sessions, "put", unavailable)
    with caplog.at_level("WARNING", logger="tether.connect"):
        refused = connect_flow.build_oauth(api, project, project.token("alice"), "not-recorded")
    # The reason the connect cannot start, not the store's failure, is what the caller sees.
    assert_refused(refused, status=403, code="integration_inactive")
    logged = [r.getMessage() for r in caplog.records if r.name == "tether.connect"]
    assert logged == ["could not record the failed start of connect session (integration_inactive)"]


def test_no_oauth_client_is_reported_on_the_session_and_in_the_popup(api: Api, project: ProjectHandle) -> None:
    # No sandbox fixture: the deployment has no development keys and the project no client of its own.
    _assert_start_failure_is_reported(api, project, "alice", 409, "integration_not_configured")


def test_an_inactive_integration_is_reported_on_the_session_and_in_the_popup(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    body = {"clientId": None, "scopes": [], "active": False}
    stored = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", headers=project.admin, body=body)
    assert stored.status == 200, stored.body
    _assert_start_failure_is_reported(api, project, "alice", 403, "integration_inactive")


def test_the_dev_keys_cap_is_reported_on_the_session_and_in_the_popup(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_DEV_KEYS_MAX_USERS", "1")
    reset_services()
    connect_flow.connect(api, project, sandbox, "u1")
    _assert_start_failure_is_reported(api, project, "u2", 403, "dev_keys_user_cap")
    # The admitted user still gets the popup and a consent URL.
    assert connect_flow.open_popup(api, project, project.token("u1")).status == 200
    assert connect_flow.build_oauth(api, project, project.token("u1"), "again-u1").status == 200
