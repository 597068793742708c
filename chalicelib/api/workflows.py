"""Admin routes for workflows and their runs (project secret key)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.auth import admin_project
from chalicelib.api.http import int_param, json_body, json_response, json_route, query_params
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.validation import check_fields
from chalicelib.services import workflow_runs, workflows
from chalicelib.wiring import get_services

workflow_admin = Blueprint(__name__)

MAX_PAGE = 100
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600


@json_route(workflow_admin, "/projects/{project_id}/workflows", ["GET"])
def list_workflows(project_id: str) -> Response:
    """Every workflow of the project, at its current version."""
    config = admin_project(workflow_admin.current_request, project_id)
    deployed = get_services().workflows.list_workflows(config.project.id)
    settings = get_services().settings
    return json_response({"workflows": [workflows.workflow_view(settings, w) for w in deployed]})


@json_route(workflow_admin, "/projects/{project_id}/workflows/{workflow_id}", ["PUT"])
def put_workflow(project_id: str, workflow_id: str) -> Response:
    """Deploy a definition as the workflow's next version (400 `invalid_workflow` lists every problem)."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    body = json_body(workflow_admin.current_request, services.settings.max_body_bytes)
    deployment = workflows.deploy_workflow(services.workflow_ports, config.project.id, workflow_id, body, utc_now_iso())
    return json_response(workflows.workflow_view(services.settings, deployment.workflow, deployment.webhook_secret))


@json_route(workflow_admin, "/projects/{project_id}/workflows/{workflow_id}", ["GET"])
def get_workflow(project_id: str, workflow_id: str) -> Response:
    """The workflow at its current version; `?asl=1` adds the compiled state machine."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    workflow = workflows.get_workflow(services.workflows, config.project.id, workflow_id)
    view = workflows.workflow_view(services.settings, workflow)
    if query_params(workflow_admin.current_request).get("asl") in ("1", "true"):
        machine = workflows.compile_version(
            services.settings, config.project.id, workflow.id, workflow.version, workflow.definition
        )
        view["asl"] = machine.definition
        view["stateMachineType"] = machine.type
        view["stateMachineArn"] = workflow.state_machine_arn
    return json_response(view)


@json_route(workflow_admin, "/projects/{project_id}/workflows/{workflow_id}", ["DELETE"])
def delete_workflow(project_id: str, workflow_id: str) -> Response:
    """Remove the workflow and its state machines."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    workflows.delete_workflow(services.workflow_ports, config.project.id, workflow_id)
    return Response(body="", status_code=204)


@json_route(workflow_admin, "/projects/{project_id}/workflows/{workflow_id}/webhook-secret", ["POST"])
def rotate_webhook_secret(project_id: str, workflow_id: str) -> Response:
    """A new webhook secret (shown once); the previous one stays valid `graceSeconds` (default a day)."""
    services = get_services()
    request = workflow_admin.current_request
    config = admin_project(request, project_id)
    body = json_body(request, services.settings.max_body_bytes) if (request.raw_body or b"").strip() else {}
    check_fields(body, allowed={"graceSeconds"}, required=[])
    grace = body.get("graceSeconds", DEFAULT_GRACE_SECONDS)
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= MAX_GRACE_SECONDS:
        raise BadRequest(f"'graceSeconds' must be a whole number from 0 to {MAX_GRACE_SECONDS}.", code="invalid_field")
    rotated = workflows.rotate_webhook_secret(
        services.workflow_ports, config.project.id, workflow_id, grace, services.clock()
    )
    return json_response(rotated)


@json_route(workflow_admin, "/projects/{project_id}/runs", ["GET"])
def list_runs(project_id: str) -> Response:
    """Runs, newest first: `?workflowId=&userId=&status=&limit=&cursor=`."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    query = query_params(workflow_admin.current_request)
    limit = int_param(query.get("limit"), "limit", code="invalid_limit", default=25, minimum=1, maximum=MAX_PAGE)
    runs, cursor = workflow_runs.list_runs(services.run_ports, config.project.id, query, limit)
    return json_response({"runs": [workflow_runs.run_view(run) for run in runs], "nextCursor": cursor})


@json_route(workflow_admin, "/projects/{project_id}/runs/{run_id}", ["GET"])
def get_run(project_id: str, run_id: str) -> Response:
    """One run with its steps' resolved inputs, outputs, attempts and errors."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    run, steps = workflow_runs.get_run(services.run_ports, config.project.id, run_id)
    return json_response(workflow_runs.run_view(run, steps))


@json_route(workflow_admin, "/projects/{project_id}/runs/{run_id}/replay", ["POST"])
def replay_run(project_id: str, run_id: str) -> Response:
    """Start a new run with the same trigger input on the workflow's current version."""
    services = get_services()
    config = admin_project(workflow_admin.current_request, project_id)
    run = workflow_runs.replay(services.run_ports, config.project.id, run_id)
    return json_response({"runId": run.id, "replayOf": run_id}, status=201)
