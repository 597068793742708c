"""Admin routes over a project's connected users (project secret key)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.auth import admin_project
from chalicelib.api.http import int_param, json_response, json_route, query_params
from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import EndUser
from chalicelib.services.credentials import admin_credential_view, delete_credential
from chalicelib.wiring import get_services

users = Blueprint(__name__)

MAX_PAGE = 100


def _user_view(user: EndUser) -> dict[str, object]:
    return {"id": user.user_id, "meta": user.meta, "createdAt": user.created_at, "lastSeenAt": user.last_seen_at}


@json_route(users, "/projects/{project_id}/users", ["GET"])
def list_users(project_id: str) -> Response:
    """End users, newest first: `?limit=` (1-100, default 25) and `?cursor=` from `nextCursor`."""
    config = admin_project(users.current_request, project_id)
    query = query_params(users.current_request)
    limit = int_param(query.get("limit"), "limit", code="invalid_limit", default=25, minimum=1, maximum=MAX_PAGE)
    page, cursor = get_services().users.list_users(config.project.id, limit, query.get("cursor"))
    return json_response({"users": [_user_view(u) for u in page], "nextCursor": cursor})


@json_route(users, "/projects/{project_id}/users/{user_id}", ["GET"])
def get_user(project_id: str, user_id: str) -> Response:
    """One end user with their credentials (status, account, blog, scopes, dates; no tokens)."""
    services = get_services()
    config = admin_project(users.current_request, project_id)
    user = services.users.find(config.project.id, user_id)
    if user is None:
        raise NotFound("No such user in this project.", code="user_not_found")
    credentials = services.credentials.list_for_user(config.project.id, user_id)
    return json_response({**_user_view(user), "credentials": [admin_credential_view(c) for c in credentials]})


@json_route(users, "/projects/{project_id}/users/{user_id}/credentials/{credential_id}", ["DELETE"])
def delete_user_credential(project_id: str, user_id: str, credential_id: str) -> Response:
    """Delete one of a user's credentials and its encrypted token."""
    services = get_services()
    config = admin_project(users.current_request, project_id)
    delete_credential(services.credentials, config.project.id, user_id, credential_id)
    return Response(body="", status_code=204)
