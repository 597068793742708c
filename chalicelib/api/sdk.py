"""SDK routes called by `@useparagon/connect` with an end user's token."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.auth import sdk_user
from chalicelib.api.http import SDK_CORS, json_body, json_response, json_route
from chalicelib.domain.providers import CATALOGUE
from chalicelib.services import end_users, workflow_runs
from chalicelib.services.integrations import dev_key_types, sdk_integrations
from chalicelib.wiring import get_services

sdk = Blueprint(__name__)


@json_route(sdk, "/projects/{project_id}/sdk/me", ["GET"], cors=SDK_CORS)
def get_me(project_id: str) -> Response:
    """The end user, their integrations' connection state and the project's features."""
    services = get_services()
    config, verified = sdk_user(sdk.current_request, project_id)
    user = end_users.record_user(services.users, verified, services.clock())
    credentials = services.credentials.list_for_user(config.project.id, user.user_id)
    dev_keys = dev_key_types(services.secrets, services.settings.dev_keys_secret_id)
    workflow_settings = _workflow_settings(project_id, user.user_id)
    shared = services.users.shared_settings(config.project.id, user.user_id)
    return json_response(
        end_users.me_view(config, user, credentials, workflow_settings, dev_keys=dev_keys, shared_settings=shared)
    )


def _workflow_settings(project_id: str, user_id: str) -> dict[str, dict[str, Any]]:
    ports = get_services().run_ports
    return {kind: workflow_runs.workflow_settings(ports, project_id, user_id, kind) for kind in CATALOGUE}


@json_route(sdk, "/projects/{project_id}/sdk/me", ["PATCH"], cors=SDK_CORS)
def patch_me(project_id: str) -> Response:
    """Replace the end user's metadata (`{"meta": {...}}`)."""
    services = get_services()
    config, verified = sdk_user(sdk.current_request, project_id)
    body = json_body(sdk.current_request, services.settings.max_body_bytes)
    user = end_users.update_meta(services.users, verified, body, services.clock())
    credentials = services.credentials.list_for_user(config.project.id, user.user_id)
    dev_keys = dev_key_types(services.secrets, services.settings.dev_keys_secret_id)
    workflow_settings = _workflow_settings(project_id, user.user_id)
    shared = services.users.shared_settings(config.project.id, user.user_id)
    return json_response(
        end_users.me_view(config, user, credentials, workflow_settings, dev_keys=dev_keys, shared_settings=shared)
    )


@json_route(sdk, "/projects/{project_id}/sdk/integrations", ["GET"], cors=SDK_CORS)
def list_integrations(project_id: str) -> Response:
    """The project's integrations, in the shape the SDK needs to install them."""
    services = get_services()
    config, verified = sdk_user(sdk.current_request, project_id)
    end_users.record_user(services.users, verified, services.clock())
    dev_keys = dev_key_types(services.secrets, services.settings.dev_keys_secret_id)
    workflows = services.workflows.list_workflows(config.project.id)
    return json_response(sdk_integrations(config, workflows, dev_keys=dev_keys))
