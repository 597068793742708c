"""WordPress.com's OAuth 2 server: `/oauth2/authorize`, `/oauth2/token` and `/oauth2/token-info`.

Authorize automation (query parameters of the GET): `sandbox_user` (user ID or username) and
`sandbox_site` (site ID or domain) preselect the pickers; `sandbox_auto=approve|deny` answers at
once with the redirect the corresponding button would produce.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from wpcom_sandbox.data import Site, User
from wpcom_sandbox.messages import Request, Response, html_response, json_response, no_store, redirect, with_query
from wpcom_sandbox.pages import FORM_NONCE_FIELD, ConsentView, consent_page, error_page
from wpcom_sandbox.scopes import Access, access_for, describe, granted_scope, split_scopes, unknown_scopes
from wpcom_sandbox.state import OAuthClient, SandboxState

AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "state", "scope", "blog")
DENIED_DESCRIPTION = "The user denied access to your application."
INVALID_INFO_REQUEST = "The specified token is invalid."


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorize request."""

    client: OAuthClient
    params: dict[str, str]
    scopes: list[str]

    @property
    def access(self) -> Access:
        """What the requested scopes reach."""
        return access_for(self.scopes)

    def back(self, **values: str | None) -> Response:
        """Redirect to the app's redirect_uri with these parameters and the echoed `state`."""
        values["state"] = self.params.get("state")
        return redirect(with_query(self.client.redirect_uri, values))


@dataclass(frozen=True)
class Selection:
    """The user (and site, for single-site access) a consent is for."""

    user: User
    site: Site | None


def _bad_request_page(title: str, message: str) -> Response:
    return html_response(400, error_page(title, message))


def _validate(state: SandboxState, params: dict[str, str]) -> AuthorizeRequest | Response:
    """Check client, redirect_uri and response_type (error page), then scopes (redirect)."""
    client = state.client(params.get("client_id"))
    if client is None:
        return _bad_request_page("Invalid client", "Unknown client_id. Check the app's client ID.")
    if params.get("redirect_uri") != client.redirect_uri:
        return _bad_request_page(
            "Invalid redirect_uri", "The redirect_uri does not match the one registered for this application."
        )
    if params.get("response_type") != "code":
        return _bad_request_page("Invalid response_type", "This sandbox supports response_type=code only.")
    scopes = split_scopes(params.get("scope"))
    request = AuthorizeRequest(client, params, scopes)
    unknown = unknown_scopes(scopes)
    if unknown:
        return request.back(error="invalid_scope", error_description=f"Unknown scope: {', '.join(unknown)}.")
    return request


def _select(
    state: SandboxState, request: AuthorizeRequest, user_ref: str | None, site_ref: str | None
) -> Selection | str:
    """Resolve the user and site to grant; a message when they are unknown or do not match."""
    blog = state.find_site(request.params.get("blog")) if request.params.get("blog") else None
    site = state.find_site(site_ref) if site_ref else None
    if site_ref and site is None:
        return f"Unknown site {site_ref!r}."
    if user_ref:
        user = state.find_user(user_ref)
        if user is None:
            return f"Unknown user {user_ref!r}."
    else:
        owner = site or blog
        user = state.find_user(owner.owner_id) if owner else None
        user = user or state.all_users()[0]
    if request.access is not Access.SITE:
        return Selection(user, None)
    if site is None:
        primary = state.find_site(user.primary_blog)
        site = blog if blog is not None and blog.owner_id == user.user_id else primary
    if site is None or site.owner_id != user.user_id:
        return f"The site does not belong to {user.username}; pick one of their sites."
    return Selection(user, site)


def _approve(state: SandboxState, request: AuthorizeRequest, selection: Selection) -> Response:
    code = state.issue_code(
        request.client.client_id,
        request.client.redirect_uri,
        selection.user.user_id,
        selection.site.site_id if selection.site else 0,
        granted_scope(request.scopes),
    )
    return request.back(code=code)


def _deny(request: AuthorizeRequest) -> Response:
    return request.back(error="access_denied", error_description=DENIED_DESCRIPTION)


def _render_consent(
    state: SandboxState, request: AuthorizeRequest, selection: Selection, error: str | None = None
) -> Response:
    users = state.all_users()
    view = ConsentView(
        app_name=request.client.name,
        redirect_uri=request.client.redirect_uri,
        scope_lines=describe(request.scopes),
        users=users,
        sites_by_user={user.user_id: state.sites_of(user.user_id) for user in users},
        selected_user=selection.user.user_id,
        selected_site=selection.site.site_id if selection.site else None,
        needs_site=request.access is Access.SITE,
        params=request.params,
        form_token=state.create_consent(request.params),
        error=error,
    )
    return html_response(400 if error else 200, consent_page(view))


def authorize_get(state: SandboxState, http: Request) -> Response:
    """Show the consent page (or, with `sandbox_auto`, answer as if a button had been pressed)."""
    params = {name: value for name in AUTHORIZE_PARAMS if (value := http.arg(name)) is not None}
    checked = _validate(state, params)
    if isinstance(checked, Response):
        return checked
    selection = _select(state, checked, http.arg("sandbox_user"), http.arg("sandbox_site"))
    if isinstance(selection, str):
        return _bad_request_page("Invalid sandbox selection", selection)
    auto = http.arg("sandbox_auto")
    if auto == "approve":
        return _approve(state, checked, selection)
    if auto == "deny":
        return _deny(checked)
    if auto is not None:
        return _bad_request_page("Invalid sandbox_auto", "sandbox_auto must be approve or deny.")
    return _render_consent(state, checked, selection)


def authorize_post(state: SandboxState, http: Request) -> Response:
    """Handle the consent form: check its single-use token, then approve or deny."""
    form = http.form()
    bound = state.take_consent(form.get(FORM_NONCE_FIELD))
    if bound is None:
        return _bad_request_page(
            "This form has expired", "The authorization form was already used or has expired. Start again from the app."
        )
    params = {name: form[name] for name in AUTHORIZE_PARAMS if name in form}
    if params != bound:
        return _bad_request_page("Invalid request", "The authorization parameters were altered.")
    checked = _validate(state, params)
    if isinstance(checked, Response):
        return checked
    action = form.get("action")
    if action == "deny":
        return _deny(checked)
    if action != "approve":
        return _bad_request_page("Invalid request", "Choose Approve or Deny.")
    selection = _select(state, checked, form.get("user"), form.get("site"))
    if isinstance(selection, str):
        fallback = _select(state, checked, form.get("user"), None)
        if isinstance(fallback, str):
            fallback = _select(state, checked, None, None)
        if isinstance(fallback, str):
            return _bad_request_page("Invalid selection", selection)
        return _render_consent(state, checked, fallback, error=selection)
    return _approve(state, checked, selection)


def _token_error(error: str, description: str) -> Response:
    return no_store(json_response(400, {"error": error, "error_description": description}))


def token(state: SandboxState, http: Request) -> Response:
    """Exchange an authorization code for a bearer token (form-encoded POST)."""
    if http.body and http.media_type != "application/x-www-form-urlencoded":
        return _token_error("invalid_request", "The request body must be application/x-www-form-urlencoded.")
    form = http.form()
    for name in ("client_id", "client_secret", "grant_type"):
        if not form.get(name):
            return _token_error("invalid_request", f"The {name} parameter is required.")
    client = state.client(form["client_id"])
    if client is None:
        return _token_error("invalid_client", "Unknown client_id.")
    if not secrets.compare_digest(form["client_secret"].encode(), client.client_secret.encode()):
        return _token_error("invalid_client", "Incorrect client secret.")
    if form["grant_type"] != "authorization_code":
        return _token_error("unsupported_grant_type", "The grant_type must be authorization_code.")
    for name in ("code", "redirect_uri"):
        if not form.get(name):
            return _token_error("invalid_request", f"The {name} parameter is required.")
    issued = state.redeem_code(client.client_id, form["code"], form["redirect_uri"])
    if isinstance(issued, str):
        return _token_error("invalid_grant", issued)
    site = state.find_site(issued.blog_id) if issued.blog_id else None
    body = {
        "access_token": issued.token,
        "token_type": "bearer",
        "blog_id": str(issued.blog_id),
        "blog_url": site.url if site else None,
        "scope": issued.scope,
    }
    return no_store(json_response(200, body))


def token_info(state: SandboxState, http: Request) -> Response:
    """Describe a token to the app it was issued to."""
    client_id, value = http.arg("client_id"), http.arg("token")
    issued = state.token(value) if value else None
    if issued is None or issued.revoked or issued.client_id != client_id:
        return no_store(json_response(400, {"error": "invalid_request", "error_description": INVALID_INFO_REQUEST}))
    body = {
        "client_id": issued.client_id,
        "user_id": str(issued.user_id),
        "blog_id": str(issued.blog_id),
        "scope": issued.scope,
    }
    return no_store(json_response(200, body))


def _method_not_allowed(allowed: str) -> Response:
    body = {"error": "invalid_request", "error_description": "Method not allowed."}
    return json_response(405, body, [("Allow", allowed)])


def _authorize(state: SandboxState, http: Request) -> Response:
    if http.method == "POST":
        return authorize_post(state, http)
    return authorize_get(state, http) if http.method == "GET" else _method_not_allowed("GET, POST")


def _token(state: SandboxState, http: Request) -> Response:
    return token(state, http) if http.method == "POST" else _method_not_allowed("POST")


def _token_info(state: SandboxState, http: Request) -> Response:
    return token_info(state, http) if http.method == "GET" else _method_not_allowed("GET")


OAUTH_ROUTES: dict[str, Callable[[SandboxState, Request], Response]] = {
    "/oauth2/authorize": _authorize,
    "/oauth2/token": _token,
    "/oauth2/token-info": _token_info,
}
