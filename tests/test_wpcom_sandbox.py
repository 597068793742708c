"""The WordPress.com sandbox over HTTP: OAuth consent, code exchange, token-info, /me endpoints,
REST conventions, fault injection and request recording."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wpcom_sandbox import OAuthClient, SandboxState, WordPressSandbox

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
ALICE, ALICE_COOKS, ALICE_TRAVELS = 51234001, 190000101, 190000102
BOB_GARDEN = 190000201


class FakeClock:
    """An injectable clock the tests move forward."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def sandbox(clock: FakeClock) -> Iterator[WordPressSandbox]:
    server = WordPressSandbox(port=0, state=SandboxState(clock=clock))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def app(sandbox: WordPressSandbox, secret_watch: Any) -> OAuthClient:
    """A freshly registered app; its secret must never reach a log line."""
    client = sandbox.state.register_client("Demo App", REDIRECT_URI)
    secret_watch.add(client.client_secret)
    return client


class Flow:
    """Helpers for the OAuth dance against the sandbox."""

    def __init__(self, sandbox: WordPressSandbox, http: requests.Session, watch: Any) -> None:
        self.sandbox = sandbox
        self.http = http
        self.watch = watch

    def authorize(self, client: OAuthClient, **params: str) -> requests.Response:
        query = {"client_id": client.client_id, "redirect_uri": client.redirect_uri, "response_type": "code"}
        query.update(params)
        return self.http.get(f"{self.sandbox.origin}/oauth2/authorize", params=query, allow_redirects=False)

    def code(self, client: OAuthClient, **params: str) -> str:
        response = self.authorize(client, sandbox_auto="approve", **params)
        assert response.status_code == 302, response.text
        code = location_query(response)["code"]
        self.watch.add(code)
        return code

    def exchange(self, client: OAuthClient, code: str, /, **overrides: str) -> requests.Response:
        form = {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uri": client.redirect_uri,
            "code": code,
            "grant_type": "authorization_code",
        }
        form.update(overrides)
        response = self.http.post(f"{self.sandbox.origin}/oauth2/token", data=form, allow_redirects=False)
        if response.status_code == 200:
            self.watch.add(response.json()["access_token"])
        return response

    def token(self, client: OAuthClient, **params: str) -> str:
        response = self.exchange(client, self.code(client, **params))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def rest(self, path: str, token: str | None = None, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.get(f"{self.sandbox.origin}/rest/v1.1{path}", params=params, headers=headers)


@pytest.fixture
def flow(sandbox: WordPressSandbox, http: requests.Session, secret_watch: Any) -> Flow:
    return Flow(sandbox, http, secret_watch)


def location_query(response: requests.Response) -> dict[str, str]:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def hidden_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {html.unescape(name): html.unescape(value) for name, value in found}


# --- consent page -----------------------------------------------------------------------------------


def test_consent_page_shows_app_scopes_pickers_and_buttons(flow: Flow, app: OAuthClient) -> None:
    response = flow.authorize(app, state="s1", scope="posts media")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    page = response.text
    assert "Demo App" in page
    assert "Create, edit and delete posts and pages." in page
    for element_id in ('id="user"', 'id="site"', 'id="approve"', 'id="deny"'):
        assert element_id in page
    fields = hidden_fields(page)
    assert fields["state"] == "s1"
    assert fields["scope"] == "posts media"
    assert len(fields["sandbox_form_token"]) > 20


def test_consent_page_escapes_app_name_and_state(flow: Flow, sandbox: WordPressSandbox) -> None:
    evil = sandbox.state.register_client("<script>alert('app')</script>", REDIRECT_URI)
    response = flow.authorize(evil, state='"><script>alert(1)</script>')
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(&#x27;app&#x27;)&lt;/script&gt;" in response.text
    assert hidden_fields(response.text)["state"] == '"><script>alert(1)</script>'
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no scripts


def test_global_and_auth_consent_have_no_site_picker(flow: Flow, app: OAuthClient) -> None:
    assert 'id="site"' not in flow.authorize(app, scope="global").text
    assert 'id="site"' not in flow.authorize(app, scope="auth").text


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "99999999"},
        {"redirect_uri": "http://127.0.0.1:9/oauth/callback/other"},
        {"redirect_uri": ""},
        {"response_type": "token"},
        {"response_type": ""},
    ],
)
def test_bad_client_or_redirect_is_an_error_page_without_redirect(
    flow: Flow, app: OAuthClient, params: dict[str, str]
) -> None:
    response = flow.authorize(app, sandbox_auto="approve", **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Location" not in response.headers


def test_unknown_scope_redirects_with_invalid_scope(flow: Flow, app: OAuthClient) -> None:
    response = flow.authorize(app, scope="posts,launch-rockets", state="s2")
    assert response.status_code == 302
    query = location_query(response)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "s2"
    assert "code" not in query


# --- approve / deny ---------------------------------------------------------------------------------


def test_approve_form_redirects_with_code_and_state_once(flow: Flow, app: OAuthClient) -> None:
    page = flow.authorize(app, state="xyz", sandbox_user="alicebaker").text
    assert f'<option value="{ALICE}" selected>' in page
    assert f'<option value="{ALICE_COOKS}" selected>' in page  # the user's primary blog
    form = {**hidden_fields(page), "user": str(ALICE), "site": str(ALICE_TRAVELS), "action": "approve"}
    url = f"{flow.sandbox.origin}/oauth2/authorize"
    response = flow.http.post(url, data=form, allow_redirects=False)
    assert response.status_code == 302
    query = location_query(response)
    assert query["state"] == "xyz"
    assert re.fullmatch(r"[A-Za-z0-9]{10}", query["code"])
    flow.watch.add(query["code"])
    token = flow.exchange(app, query["code"]).json()
    assert token["blog_id"] == str(ALICE_TRAVELS)
    replay = flow.http.post(url, data=form, allow_redirects=False)
    assert replay.status_code == 400
    assert "Location" not in replay.headers


def test_approve_form_rejects_altered_parameters_and_foreign_site(flow: Flow, app: OAuthClient) -> None:
    url = f"{flow.sandbox.origin}/oauth2/authorize"
    fields = hidden_fields(flow.authorize(app).text)
    altered = {**fields, "scope": "global", "user": str(ALICE), "action": "approve"}
    assert flow.http.post(url, data=altered, allow_redirects=False).status_code == 400
    fields = hidden_fields(flow.authorize(app).text)
    foreign = {**fields, "user": str(ALICE), "site": str(BOB_GARDEN), "action": "approve"}
    response = flow.http.post(url, data=foreign, allow_redirects=False)
    assert response.status_code == 400
    assert 'id="consent-error"' in response.text
    assert "Location" not in response.headers


def test_approve_without_state_does_not_echo_one(flow: Flow, app: OAuthClient) -> None:
    query = location_query(flow.authorize(app, sandbox_auto="approve"))
    assert set(query) == {"code"}
    flow.watch.add(query["code"])


def test_deny_form_and_auto_deny_redirect_with_access_denied(flow: Flow, app: OAuthClient) -> None:
    fields = hidden_fields(flow.authorize(app, state="d1").text)
    url = f"{flow.sandbox.origin}/oauth2/authorize"
    response = flow.http.post(url, data={**fields, "action": "deny"}, allow_redirects=False)
    assert response.status_code == 302
    query = location_query(response)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "d1"
    assert "code" not in query
    auto = location_query(flow.authorize(app, sandbox_auto="deny", state="d2"))
    assert (auto["error"], auto["state"]) == ("access_denied", "d2")


def test_invalid_sandbox_selection_is_an_error_page(flow: Flow, app: OAuthClient) -> None:
    for params in ({"sandbox_user": "nobody"}, {"sandbox_user": "alicebaker", "sandbox_site": str(BOB_GARDEN)}):
        response = flow.authorize(app, sandbox_auto="approve", **params)
        assert response.status_code == 400
        assert "Location" not in response.headers


# --- token endpoint ---------------------------------------------------------------------------------


def test_code_exchange_returns_a_single_blog_token(flow: Flow, app: OAuthClient) -> None:
    code = flow.code(app, sandbox_user=str(ALICE), sandbox_site=str(ALICE_COOKS))
    response = flow.exchange(app, code)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "blog_id", "blog_url", "scope"}
    assert body["token_type"] == "bearer"
    assert body["blog_id"] == str(ALICE_COOKS)
    assert body["blog_url"] == "https://alicecooks.wordpress.com"
    assert body["scope"] == ""
    assert len(body["access_token"]) == 64


def test_blog_parameter_preselects_the_site(flow: Flow, app: OAuthClient) -> None:
    code = flow.code(app, blog="bobsgarden.wordpress.com")
    assert flow.exchange(app, code).json()["blog_id"] == str(BOB_GARDEN)


def test_global_token_shape(flow: Flow, app: OAuthClient) -> None:
    body = flow.exchange(app, flow.code(app, scope="global", sandbox_user="alicebaker")).json()
    assert (body["blog_id"], body["blog_url"], body["scope"]) == ("0", None, "global")


def test_code_reuse_is_invalid_grant_and_revokes_the_first_token(flow: Flow, app: OAuthClient) -> None:
    code = flow.code(app)
    first = flow.exchange(app, code)
    assert first.status_code == 200
    token = first.json()["access_token"]
    assert flow.rest("/me", token).status_code == 200
    second = flow.exchange(app, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert flow.rest("/me", token).json()["error"] == "authorization_required"


def test_expired_code_is_invalid_grant(flow: Flow, app: OAuthClient, clock: FakeClock) -> None:
    code = flow.code(app)
    clock.now += 601
    response = flow.exchange(app, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_of_another_client_or_other_redirect_is_invalid_grant(
    flow: Flow, app: OAuthClient, sandbox: WordPressSandbox, secret_watch: Any
) -> None:
    other = sandbox.state.register_client("Other App", REDIRECT_URI)
    secret_watch.add(other.client_secret)
    code = flow.code(app)
    assert flow.exchange(other, code).json()["error"] == "invalid_grant"
    assert flow.exchange(app, code, redirect_uri=REDIRECT_URI + "x").json()["error"] == "invalid_grant"
    assert flow.exchange(app, "notacode00").json()["error"] == "invalid_grant"
    assert flow.exchange(app, code).status_code == 200  # failed attempts did not consume it


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"client_secret": "wrong"}, "invalid_client", None),
        ({"client_id": "1"}, "invalid_client", "Unknown client_id."),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", None),
        ({"grant_type": ""}, "invalid_request", None),
        ({"code": ""}, "invalid_request", None),
        ({"redirect_uri": ""}, "invalid_request", None),
    ],
)
def test_token_errors(
    flow: Flow, app: OAuthClient, overrides: dict[str, str], error: str, description: str | None
) -> None:
    response = flow.exchange(app, flow.code(app), **overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error
    assert body["error_description"] == (description or body["error_description"])


def test_token_request_must_be_form_encoded(flow: Flow, app: OAuthClient) -> None:
    body = {"client_id": app.client_id, "client_secret": app.client_secret, "code": flow.code(app)}
    body |= {"redirect_uri": app.redirect_uri, "grant_type": "authorization_code"}
    response = flow.http.post(f"{flow.sandbox.origin}/oauth2/token", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- token-info -------------------------------------------------------------------------------------


def test_token_info(flow: Flow, app: OAuthClient, sandbox: WordPressSandbox) -> None:
    token = flow.token(app, sandbox_user="bobortega", scope="posts,media")
    url = f"{sandbox.origin}/oauth2/token-info"
    info = flow.http.get(url, params={"client_id": app.client_id, "token": token})
    assert info.status_code == 200
    assert info.json() == {
        "client_id": app.client_id,
        "user_id": "51234002",
        "blog_id": str(BOB_GARDEN),
        "scope": "posts,media",
    }
    invalid = {"error": "invalid_request", "error_description": "The specified token is invalid."}
    for params in (
        {"client_id": app.client_id, "token": "nope"},
        {"client_id": "12345", "token": token},
        {"client_id": app.client_id},
    ):
        response = flow.http.get(url, params=params)
        assert (response.status_code, response.json()) == (400, invalid)
    sandbox.state.revoke_token(token)
    response = flow.http.get(url, params={"client_id": app.client_id, "token": token})
    assert response.status_code == 400


# --- /me --------------------------------------------------------------------------------------------


def test_me_and_my_sites_with_a_single_blog_token(flow: Flow, app: OAuthClient, sandbox: WordPressSandbox) -> None:
    token = flow.token(app, sandbox_user="alicebaker", sandbox_site=str(ALICE_TRAVELS))
    me = flow.rest("/me", token)
    assert me.status_code == 200
    body = me.json()
    assert (body["ID"], body["username"], body["display_name"]) == (ALICE, "alicebaker", "Alice Baker")
    assert body["token_site_id"] == ALICE_TRAVELS
    assert body["token_scope"] == [""]
    assert body["primary_blog"] == ALICE_COOKS
    assert body["primary_blog_url"] == "https://alicecooks.wordpress.com"
    assert body["site_count"] == 2
    assert body["avatar_URL"].startswith("https://")
    assert body["meta"]["links"]["self"] == f"{sandbox.origin}/rest/v1.1/me"
    sites = flow.rest("/me/sites", token).json()["sites"]
    assert [site["ID"] for site in sites] == [ALICE_TRAVELS]
    site = sites[0]
    assert site["URL"] == "https://alicetravels.wordpress.com"
    assert site["jetpack"] is False
    assert site["is_private"] is True
    assert site["options"]["admin_url"] == "https://alicetravels.wordpress.com/wp-admin/"
    assert {"timezone", "gmt_offset"} <= set(site["options"])


def test_me_and_my_sites_with_a_global_token(flow: Flow, app: OAuthClient) -> None:
    token = flow.token(app, scope="global", sandbox_user="alicebaker")
    me = flow.rest("/me", token).json()
    assert (me["token_site_id"], me["token_scope"]) == (False, ["global"])
    sites = flow.rest("/me/sites", token).json()["sites"]
    assert [site["ID"] for site in sites] == [ALICE_COOKS, ALICE_TRAVELS]


def test_site_visibility_filter(flow: Flow, app: OAuthClient) -> None:
    token = flow.token(app, scope="global", sandbox_user="carolnguyen")
    assert len(flow.rest("/me/sites", token).json()["sites"]) == 2
    visible = flow.rest("/me/sites", token, site_visibility="visible").json()["sites"]
    assert [site["slug"] for site in visible] == ["carolcodes.wordpress.com"]


def test_auth_scope_token_reaches_me_only(flow: Flow, app: OAuthClient) -> None:
    token = flow.token(app, scope="auth", sandbox_user="bobortega")
    me = flow.rest("/me", token).json()
    assert (me["username"], me["token_site_id"], me["token_scope"]) == ("bobortega", False, ["auth"])
    sites = flow.rest("/me/sites", token)
    assert sites.status_code == 403


def test_me_other_versions(flow: Flow, app: OAuthClient) -> None:
    token = flow.token(app)
    for version in ("v1", "v1.2"):
        response = flow.http.get(
            f"{flow.sandbox.origin}/rest/{version}/me/", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        assert response.json()["meta"]["links"]["self"].endswith(f"/rest/{version}/me")


def test_missing_revoked_and_invalid_tokens(flow: Flow, app: OAuthClient, sandbox: WordPressSandbox) -> None:
    required = {
        "error": "authorization_required",
        "message": "An active access token must be used to query information about the current user.",
    }
    invalid = {"error": "invalid_token", "message": "The OAuth2 token is invalid."}
    missing = flow.rest("/me")
    assert (missing.status_code, missing.json()) == (403, required)
    unknown = flow.rest("/me", "not-a-real-token")
    assert (unknown.status_code, unknown.json()) == (400, invalid)
    malformed = flow.http.get(f"{sandbox.origin}/rest/v1.1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert malformed.status_code == 400
    token = flow.token(app)
    assert sandbox.state.revoke_token(token) is True
    for path in ("/me", "/me/sites"):
        revoked = flow.rest(path, token)
        assert (revoked.status_code, revoked.json()) == (403, required)
    assert [t.revoked for t in sandbox.state.issued_tokens() if t.token == token] == [True]


def test_fields_and_http_envelope(flow: Flow, app: OAuthClient) -> None:
    token = flow.token(app, scope="global", sandbox_user="alicebaker")
    assert flow.rest("/me", token, fields="ID,username").json() == {"ID": ALICE, "username": "alicebaker"}
    sites = flow.rest("/me/sites", token, fields="ID,URL").json()
    assert sites["sites"] == [
        {"ID": ALICE_COOKS, "URL": "https://alicecooks.wordpress.com"},
        {"ID": ALICE_TRAVELS, "URL": "https://alicetravels.wordpress.com"},
    ]
    enveloped = flow.rest("/me", token, fields="ID", http_envelope="1")
    assert enveloped.status_code == 200
    assert enveloped.json() == {
        "code": 200,
        "headers": [{"name": "Content-Type", "value": "application/json"}],
        "body": {"ID": ALICE},
    }
    error = flow.rest("/me", None, http_envelope="true", fields="ID")
    assert error.status_code == 200
    assert error.json()["code"] == 403
    assert error.json()["body"]["error"] == "authorization_required"


def test_unknown_endpoints_and_methods(flow: Flow, sandbox: WordPressSandbox) -> None:
    not_found = {"error": "unknown_endpoint", "message": "Endpoint not found"}
    for path in ("/rest/v1.1/nope", "/rest/v1.3/me", "/wp/v2/sites/1/posts", "/"):
        response = flow.http.get(sandbox.origin + path)
        assert (response.status_code, response.json()) == (404, not_found)
    response = flow.http.post(f"{sandbox.origin}/rest/v1.1/me", data={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.json()["error"] == "not_allowed"


def test_issue_token_hook(sandbox: WordPressSandbox, app: OAuthClient, flow: Flow, secret_watch: Any) -> None:
    issued = sandbox.state.issue_token(app.client_id, "carolnguyen")
    secret_watch.add(issued.token)
    assert issued.blog_id == 190000301
    assert flow.rest("/me", issued.token).json()["token_site_id"] == 190000301
    with pytest.raises(ValueError, match="site not owned"):
        sandbox.state.issue_token(app.client_id, "carolnguyen", site=ALICE_COOKS)


# --- fault injection and recording ------------------------------------------------------------------


def test_fail_next_answers_canned_responses(flow: Flow, app: OAuthClient, sandbox: WordPressSandbox) -> None:
    code = flow.code(app)
    sandbox.state.fail_next("/oauth2/token", 500, {"error": "server_error"})
    failed = flow.exchange(app, code)
    assert (failed.status_code, failed.json()) == (500, {"error": "server_error"})
    assert flow.exchange(app, code).status_code == 200  # one failure only; the code was not consumed
    sandbox.state.fail_next("/rest/", 503, "<html><body>Limit reached</body></html>", content_type="text/html", count=2)
    for _ in range(2):
        throttled = flow.rest("/me")
        assert throttled.status_code == 503
        assert throttled.headers["Content-Type"] == "text/html"
        assert "Limit reached" in throttled.text
    assert flow.rest("/me").status_code == 403


def test_fail_next_delay_makes_the_request_hang(flow: Flow, sandbox: WordPressSandbox) -> None:
    sandbox.state.fail_next("/rest/v1.1/me", 200, {}, delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sandbox.origin}/rest/v1.1/me", timeout=0.1)


def test_recording_redacts_authorization(flow: Flow, app: OAuthClient, sandbox: WordPressSandbox) -> None:
    token = flow.token(app)
    sandbox.state.clear_recorded_requests()
    assert sandbox.state.recorded_requests() == []
    flow.rest("/me/sites", token, fields="ID")
    [recorded] = sandbox.state.recorded_requests("/rest/")
    assert (recorded.method, recorded.path, recorded.query) == ("GET", "/rest/v1.1/me/sites", {"fields": "ID"})
    assert recorded.headers["Authorization"] == "Bearer <redacted>"
    assert token not in repr(recorded)
    assert recorded.at == sandbox.state.clock()
    assert sandbox.state.recorded_requests("/oauth2/") == []
