"""SDK routes for workflows: app events, request triggers, per-user enable/disable and settings."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api.auth import sdk_user
from chalicelib.api.http import SDK_CORS, json_body, json_response, json_route, query_params
from chalicelib.domain.workflows.trigger_headers import visible_headers
from chalicelib.services import end_users, workflow_runs
from chalicelib.wiring import get_services

sdk_workflows = Blueprint(__name__)


def _trigger_event(project_id: str) -> Response:
    services = get_services()
    request = sdk_workflows.current_request
    config, user = sdk_user(request, project_id)
    end_users.record_user(services.users, user, services.clock())
    body = json_body(request, services.settings.max_body_bytes)
    run_ids = workflow_runs.trigger_event(
        services.run_ports, config.project.id, user.user_id, body, request.headers.get("idempotency-key")
    )
    return json_response({"runIds": run_ids}, status=201)


@json_route(sdk_workflows, "/v2/projects/{project_id}/sdk/events/trigger", ["POST"], cors=SDK_CORS)
def trigger_event_v2(project_id: str) -> Response:
    """`paragon.event(name, payload)`: run the user's enabled workflows subscribed to `name`."""
    return _trigger_event(project_id)


@json_route(sdk_workflows, "/projects/{project_id}/sdk/events/trigger", ["POST"], cors=SDK_CORS)
def trigger_event(project_id: str) -> Response:
    """Same as the /v2 route (the documented REST form)."""
    return _trigger_event(project_id)


@json_route(sdk_workflows, "/projects/{project_id}/sdk/triggers/{workflow_id}", ["POST"], cors=SDK_CORS)
def trigger_workflow(project_id: str, workflow_id: str) -> Response:
    """`paragon.workflow(id, {body, query, headers})`: run a request workflow and answer its response."""
    services = get_services()
    request = sdk_workflows.current_request
    config, user = sdk_user(request, project_id)
    raw = request.raw_body or b""
    body: Any = json_body(request, services.settings.max_body_bytes) if raw.strip() else {}
    headers = visible_headers(request.headers.items())
    answer = workflow_runs.run_request_workflow(
        services.run_ports,
        config.project.id,
        user.user_id,
        workflow_id,
        {"body": body, "query": query_params(request), "headers": headers},
    )
    return Response(
        body=json.dumps(answer.body, allow_nan=False),
        status_code=answer.status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store", "X-Tether-Run-Id": answer.run_id},
    )


def _set_enabled(project_id: str, workflow_id: str, enabled: bool) -> Response:
    services = get_services()
    config, user = sdk_user(sdk_workflows.current_request, project_id)
    end_users.record_user(services.users, user, services.clock())
    state = workflow_runs.set_enabled(services.run_ports, config.project.id, user.user_id, workflow_id, enabled)
    return json_response(state)


@json_route(sdk_workflows, "/projects/{project_id}/sdk/workflows/{workflow_id}", ["POST"], cors=SDK_CORS)
def enable_workflow(project_id: str, workflow_id: str) -> Response:
    """`enableWorkflow`: turn the workflow on for this user."""
    return _set_enabled(project_id, workflow_id, True)


@json_route(sdk_workflows, "/projects/{project_id}/sdk/workflows/{workflow_id}", ["DELETE"], cors=SDK_CORS)
def disable_workflow(project_id: str, workflow_id: str) -> Response:
    """`disableWorkflow`: turn the workflow off for this user."""
    return _set_enabled(project_id, workflow_id, False)
