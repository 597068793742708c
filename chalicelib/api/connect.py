"""Connect-flow routes: build-oauth, the popup's first page, the OAuth callback, session polling,
credentials and uninstall."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from chalice.app import Blueprint, Response

from chalicelib.api.auth import sdk_user
from chalicelib.api.http import SDK_CORS, json_body, json_response, json_route, query_params
from chalicelib.api.pages import error_page, html_route, oauth_nonce_page, result_page
from chalicelib.domain.errors import BadRequest, TetherError
from chalicelib.domain.models import Credential, ProjectConfig
from chalicelib.domain.providers import get_provider
from chalicelib.services import allowed_origins, workflow_runs
from chalicelib.services import connect as connect_service
from chalicelib.services import credentials as credential_service
from chalicelib.services.connect import ConnectPorts
from chalicelib.services.integrations import save_user_settings
from chalicelib.wiring import Services, get_services

connect = Blueprint(__name__)

BINDING_COOKIE = "tether_connect"


def _ports(services: Services) -> ConnectPorts:
    return ConnectPorts(
        settings=services.settings,
        secrets=services.secrets,
        credentials=services.credentials,
        sessions=services.sessions,
        states=services.oauth_states,
        dev_keys=services.dev_key_usage,
        users=services.users,
        clock=services.clock,
        on_connected=lambda credential: workflow_runs.start_on_connect(
            services.run_ports, credential.project_id, credential.user_id, credential.integration_type, credential.id
        ),
    )


def _build_oauth(project_id: str) -> Response:
    services = get_services()
    request = connect.current_request
    config, user = sdk_user(request, project_id, allow_query_token=True)
    query = query_params(request)
    integration_type = query.get("action") or ""
    redirect_url = connect_service.start_connect(
        _ports(services),
        config,
        user,
        integration_type,
        query.get("oauthMetaKeyId") or "",
        credential_service.parse_bool_option(query.get("installOptions"), "allowMultipleCredentials"),
    )
    return json_response({"redirectUrl": redirect_url})


@json_route(connect, "/v2/projects/{project_id}/sdk/actions/build-oauth", ["GET"], cors=SDK_CORS)
def build_oauth_v2(project_id: str) -> Response:
    """Open a connect session; answer the provider's consent URL for the popup."""
    return _build_oauth(project_id)


@json_route(connect, "/projects/{project_id}/sdk/actions/build-oauth", ["GET"], cors=SDK_CORS)
def build_oauth(project_id: str) -> Response:
    """Same as the /v2 route (older SDKs)."""
    return _build_oauth(project_id)


def _binding_cookie(value: str, max_age: int) -> str:
    public = urlsplit(get_services().settings.public_url)
    path = public.path.rstrip("/") + "/oauth/callback"
    secure = "; Secure" if public.scheme == "https" else ""
    return f"{BINDING_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


@html_route(connect, "/projects/{project_id}/sdk/actions/oauth-nonce")
def oauth_nonce(project_id: str) -> Response:
    """The popup's first page. It binds the popup to the end user (cookie) and tells the opener
    it loaded; the SDK then sends the popup to the consent URL. When the project lists allowed
    origins, only a popup opened by one of them is bound (see `check_popup_opener`).

    A connect that cannot start (integration switched off, no OAuth client, development-keys
    cap) shows its error here instead: build-oauth fails the same way, and the SDK would leave
    the popup on this page."""
    request = connect.current_request
    try:
        config, user = sdk_user(request, project_id, allow_query_token=True)
        query = query_params(request)
        target = allowed_origins.post_message_target(query.get("originForPostMessage"))
        allowed_origins.check_popup_opener(config, request.headers, target)
        connect_service.check_can_connect(_ports(get_services()), config, user, query.get("action") or "")
    except TetherError as error:
        return error_page("Cannot connect", error.message, error.status, error.code)
    binding = connect_service.browser_binding(user.project_id, user.user_id)
    cookie = _binding_cookie(binding, connect_service.SESSION_TTL_SECONDS)
    return oauth_nonce_page(target, cookie)


@html_route(connect, "/oauth/callback")
def oauth_callback() -> Response:
    """Where the provider sends the popup back: finish the connection and say how it went."""
    services = get_services()
    request = connect.current_request
    query = query_params(request)
    try:
        outcome = connect_service.complete_oauth(
            _ports(services), services.project_configs, query, _read_cookie(request.headers.get("cookie"))
        )
    except TetherError as error:
        return result_page(False, "Connection failed", error.message, error.status)
    return result_page(outcome.ok, outcome.title, outcome.detail, outcome.status)


def _read_cookie(header: str | None) -> str | None:
    """The first `tether_connect` value of a Cookie header. Parsed by hand, pair by pair: another
    site's cookie that is not RFC 6265 syntax (JSON, spaces, commas) must not hide ours, which
    `http.cookies.SimpleCookie` does by rejecting the whole header."""
    for pair in (header or "").split(";"):
        name, sep, value = pair.partition("=")
        if sep and name.strip() == BINDING_COOKIE:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


@json_route(connect, "/projects/{project_id}/sdk/actions/session-id/{session_id}", ["GET"], cors=SDK_CORS)
def get_session(project_id: str, session_id: str) -> Response:
    """Poll a connect session; `connectCredentialId` appears once it finished."""
    services = get_services()
    _config, user = sdk_user(connect.current_request, project_id)
    return json_response(connect_service.read_session(_ports(services), user, session_id))


@json_route(connect, "/projects/{project_id}/sdk/actions/session-id/{session_id}", ["DELETE"], cors=SDK_CORS)
def delete_session(project_id: str, session_id: str) -> Response:
    """Forget a connect session (the SDK does this when it stops polling)."""
    _config, user = sdk_user(connect.current_request, project_id)
    get_services().sessions.delete(user.project_id, user.user_id, session_id)
    return json_response({"deleted": True})


@json_route(connect, "/projects/{project_id}/sdk/credentials", ["GET"], cors=SDK_CORS)
def list_credentials(project_id: str) -> Response:
    """The end user's credentials (optionally `?integration=wordpress`); never their tokens."""
    services = get_services()
    config, user = sdk_user(connect.current_request, project_id)
    wanted = query_params(connect.current_request).get("integration")
    credentials = services.credentials.list_for_user(user.project_id, user.user_id)
    views = [_credential_view(config, user.user_id, c) for c in credentials if wanted in (None, c.integration_type)]
    return json_response(views)


def _credential_view(config: ProjectConfig, user_id: str, credential: Credential) -> dict[str, Any]:
    """The credential as the SDK shows it, with the user's workflow and portal settings (after a
    connect the SDK replaces its copy of the credential with this answer)."""
    services = get_services()
    kind = credential.integration_type
    settings = workflow_runs.workflow_settings(services.run_ports, config.project.id, user_id, kind)
    shared = services.users.shared_settings(config.project.id, user_id).get(kind, {})
    return credential_service.credential_view(config, credential, settings, shared)


@json_route(connect, "/projects/{project_id}/sdk/credentials/{credential_id}", ["GET"], cors=SDK_CORS)
def get_credential(project_id: str, credential_id: str) -> Response:
    """One of the end user's credentials (or the error of a failed connect session)."""
    services = get_services()
    config, user = sdk_user(connect.current_request, project_id)
    if credential_id.startswith(connect_service.FAILED_CREDENTIAL_PREFIX):
        raise connect_service.failed_session_error(_ports(services), user, credential_id)
    credential = services.credentials.get(user.project_id, user.user_id, credential_id)
    return json_response(_credential_view(config, user.user_id, credential))


@json_route(connect, "/projects/{project_id}/sdk/credentials/{credential_id}", ["PATCH"], cors=SDK_CORS)
def update_credential_config(project_id: str, credential_id: str) -> Response:
    """`updateWorkflowUserSettings`: `{config: {workflowSettings: {<id>: {enabled?, settings?}}}}`;
    `updateIntegrationUserSettings`: `{config: {sharedSettings: {<input id>: value}}}` (the
    values of the portal's settings inputs, checked against them)."""
    services = get_services()
    request = connect.current_request
    config, user = sdk_user(request, project_id)
    body = json_body(request, services.settings.max_body_bytes)
    credential = services.credentials.get(user.project_id, user.user_id, credential_id)
    change = body.get("config")
    if not isinstance(change, dict) or not change or set(change) - {"workflowSettings", "sharedSettings"}:
        raise BadRequest(
            "Send {'config': {'workflowSettings': {...}}} or {'config': {'sharedSettings': {...}}}.",
            code="invalid_field",
        )
    if "sharedSettings" in change:
        shared = save_user_settings(
            services.users, config, user.user_id, credential.integration_type, change["sharedSettings"]
        )
    else:
        shared = services.users.shared_settings(config.project.id, user.user_id).get(credential.integration_type, {})
    if "workflowSettings" in change:
        workflow_runs.update_workflow_settings(
            services.run_ports, config.project.id, user.user_id, change["workflowSettings"]
        )
    settings = workflow_runs.workflow_settings(
        services.run_ports, config.project.id, user.user_id, credential.integration_type
    )
    return json_response(credential_service.credential_view(config, credential, settings, shared))


@json_route(connect, "/projects/{project_id}/sdk/credentials/{credential_id}/check", ["POST"], cors=SDK_CORS)
def check_credential(project_id: str, credential_id: str) -> Response:
    """Ask the provider whether the credential's token still works; answers the updated credential
    with `checkResult`: `valid`, `invalid` (the provider rejected the token) or `unknown`."""
    services = get_services()
    config, user = sdk_user(connect.current_request, project_id)
    [stored] = services.credentials.candidates(user.project_id, user.user_id, None, credential_id)
    credential = stored.credential
    provider = get_provider(credential.integration_type)
    # token-info answers only to the client that issued the token.
    client = connect_service.resolve_client(_ports(services), config, provider, dev_keys=credential.uses_dev_keys)
    settings = services.settings
    checked, verdict = credential_service.check_credential(
        services.credentials, stored, settings.wpcom_origin, client.client_id, settings.provider_timeout_seconds
    )
    return json_response({**credential_service.credential_view(config, checked), "checkResult": verdict})


@json_route(connect, "/projects/{project_id}/sdk/integrations/{integration_id}", ["DELETE"], cors=SDK_CORS)
def uninstall_integration(project_id: str, integration_id: str) -> Response:
    """The SDK's `uninstallIntegration`: delete the credential named by `X-Paragon-Credential`
    (or all of the user's credentials of that integration) with their encrypted tokens."""
    services = get_services()
    request = connect.current_request
    config, user = sdk_user(request, project_id)
    deleted = credential_service.uninstall(
        services.credentials,
        config,
        user.user_id,
        integration_id,
        request.headers.get("x-paragon-credential") or None,
    )
    return json_response({"deletedCredentialIds": deleted})
