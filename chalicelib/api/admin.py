"""Admin routes: a project's settings, authorised by its project secret key."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.auth import admin_project
from chalicelib.api.http import json_body, json_response, json_route
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import ProjectConfig
from chalicelib.domain.providers import get_provider
from chalicelib.domain.validation import check_fields
from chalicelib.services import allowed_origins, integrations, signing_keys, token_policy
from chalicelib.wiring import get_services

admin = Blueprint(__name__)


def _authorise(project_id: str) -> ProjectConfig:
    return admin_project(admin.current_request, project_id)


@json_route(admin, "/projects/{project_id}", ["GET"])
def get_project(project_id: str) -> Response:
    """The project's id, name and creation date."""
    config = _authorise(project_id)
    project = config.project
    return json_response({"id": project.id, "name": project.name, "createdAt": project.created_at})


@json_route(admin, "/projects/{project_id}/token-policy", ["GET"])
def get_token_policy(project_id: str) -> Response:
    """Whether the project's user tokens must carry an `aud` claim naming the project."""
    return json_response(token_policy.token_policy_view(_authorise(project_id).project))


@json_route(admin, "/projects/{project_id}/token-policy", ["PUT"])
def put_token_policy(project_id: str) -> Response:
    """Set `{"requireAudience": bool}`: when true, a user token without `aud` is refused."""
    services = get_services()
    config = _authorise(project_id)
    required = token_policy.parse_token_policy(json_body(admin.current_request, services.settings.max_body_bytes))
    token_policy.set_require_audience(services.projects, config.project.id, required)
    services.project_configs.invalidate(config.project.id)
    return json_response({"requireAudience": required})


def _dev_keys() -> frozenset[str]:
    services = get_services()
    return integrations.dev_key_types(services.secrets, services.settings.dev_keys_secret_id)


@json_route(admin, "/projects/{project_id}/integrations/{integration_type}", ["GET"])
def get_integration(project_id: str, integration_type: str) -> Response:
    """The project's settings for one integration (client secret masked)."""
    config = _authorise(project_id)
    provider = get_provider(integration_type)
    return json_response(integrations.settings_view(integrations.effective_settings(config, provider), _dev_keys()))


def _store_integration(project_id: str, integration_type: str, *, partial: bool) -> Response:
    services = get_services()
    config = _authorise(project_id)
    provider = get_provider(integration_type)
    body = json_body(admin.current_request, services.settings.max_body_bytes)
    current = None
    if partial:  # starts from what the table holds now, not a container's cached copy
        current = integrations.effective_settings(services.projects.load_config(config.project.id) or config, provider)
    update = integrations.parse_settings_input(body, provider, current)
    saved = integrations.put_integration_settings(
        services.projects,
        services.secrets,
        services.settings.client_secret_id(config.project.id, provider.type),
        config,
        provider.type,
        update,
    )
    services.project_configs.invalidate(config.project.id)
    return json_response(integrations.settings_view(saved, _dev_keys()))


@json_route(admin, "/projects/{project_id}/integrations/{integration_type}", ["PUT"])
def put_integration(project_id: str, integration_type: str) -> Response:
    """Replace the project's settings for one integration."""
    return _store_integration(project_id, integration_type, partial=False)


@json_route(admin, "/projects/{project_id}/integrations/{integration_type}", ["PATCH"])
def patch_integration(project_id: str, integration_type: str) -> Response:
    """Change only the settings the body names; the others keep their stored values."""
    return _store_integration(project_id, integration_type, partial=True)


@json_route(admin, "/projects/{project_id}/signing-keys", ["GET"])
def list_signing_keys(project_id: str) -> Response:
    """Every public key registered to verify this project's user tokens."""
    config = _authorise(project_id)
    return json_response({"signingKeys": [signing_keys.signing_key_view(k) for k in config.signing_keys]})


@json_route(admin, "/projects/{project_id}/signing-keys", ["POST"])
def add_signing_key(project_id: str) -> Response:
    """Register a PEM public key (RSA >= 2048 or EC P-256); returns its `kid`."""
    services = get_services()
    config = _authorise(project_id)
    body = json_body(admin.current_request, services.settings.max_body_bytes)
    check_fields(body, allowed={"publicKeyPem"})
    pem = body.get("publicKeyPem")
    if not isinstance(pem, str) or not pem.strip():
        raise BadRequest("Field 'publicKeyPem' is required and must be a PEM string.", code="missing_field")
    key = signing_keys.register_signing_key(services.projects, config.project.id, pem)
    services.project_configs.invalidate(config.project.id)
    return json_response(signing_keys.signing_key_view(key), status=201)


@json_route(admin, "/projects/{project_id}/signing-keys/{kid}", ["DELETE"])
def delete_signing_key(project_id: str, kid: str) -> Response:
    """Stop accepting user tokens signed with this key."""
    services = get_services()
    config = _authorise(project_id)
    services.projects.delete_signing_key(config.project.id, kid)
    services.project_configs.invalidate(config.project.id)
    return Response(body="", status_code=204)


@json_route(admin, "/projects/{project_id}/allowed-origins", ["GET"])
def get_allowed_origins(project_id: str) -> Response:
    """The web origins allowed to use the project's SDK routes and connect popup (empty: any)."""
    config = _authorise(project_id)
    return json_response(allowed_origins.allowed_origins_view(config.allowed_origins))


@json_route(admin, "/projects/{project_id}/allowed-origins", ["PUT"])
def put_allowed_origins(project_id: str) -> Response:
    """Replace the allowed origins: `{"allowedOrigins": ["https://app.example.com"]}` (`[]` allows any)."""
    services = get_services()
    config = _authorise(project_id)
    origins = allowed_origins.parse_allowed_origins(json_body(admin.current_request, services.settings.max_body_bytes))
    saved = allowed_origins.set_allowed_origins(services.projects, config.project.id, origins)
    services.project_configs.invalidate(config.project.id)
    return json_response(allowed_origins.allowed_origins_view(saved))
