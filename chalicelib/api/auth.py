"""Request authentication shared by the blueprints."""

from __future__ import annotations

from chalice.app import Request

from chalicelib.api.http import project_id_param, query_params
from chalicelib.domain.models import ProjectConfig
from chalicelib.services.end_users import authenticate_user
from chalicelib.services.projects import authenticate_admin
from chalicelib.services.user_tokens import TokenRules, VerifiedUser
from chalicelib.wiring import get_services


def admin_project(request: Request, project_id: str) -> ProjectConfig:
    """The project, if the request carries its secret key as a Bearer token."""
    return authenticate_admin(
        get_services().project_configs, project_id_param(project_id), request.headers.get("authorization")
    )


def sdk_user(request: Request, project_id: str, allow_query_token: bool = False) -> tuple[ProjectConfig, VerifiedUser]:
    """The project and end user proven by the request's user token.

    The token comes from `Authorization: Bearer`, or, for the SDK's popup URLs only, from the
    `userToken` query parameter.
    """
    services = get_services()
    authorization = request.headers.get("authorization")
    if authorization is None and allow_query_token:
        token = query_params(request).get("userToken")
        authorization = f"Bearer {token}" if token else None
    settings = services.settings
    rules = TokenRules(settings.jwt_leeway_seconds, settings.max_token_lifetime_seconds)
    return authenticate_user(services.project_configs, project_id_param(project_id), authorization, rules)
