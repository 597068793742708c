"""Use case: a delivery to a workflow's webhook URL starts a run for the end user it names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.webhook_repository import WebhookRepository
from chalicelib.domain.errors import BadRequest, NotFound, TetherError
from chalicelib.domain.validation import has_control_characters, has_unpaired_surrogate
from chalicelib.domain.webhook_signatures import verify
from chalicelib.domain.workflows import templates
from chalicelib.domain.workflows.records import DeployedWorkflow
from chalicelib.domain.workflows.trigger_headers import visible_headers
from chalicelib.services import workflow_runs
from chalicelib.services.user_tokens import MAX_USER_ID_CHARS

HOOK_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
USER_HEADER = "x-tether-user-id"
DELIVERY_HEADER = "x-tether-delivery-id"
MAX_DELIVERY_ID_CHARS = 200
DELIVERY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class WebhookPorts:
    """What webhook intake needs."""

    runs: workflow_runs.RunPorts
    webhooks: WebhookRepository


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as it arrived."""

    hook_id: str
    body: bytes  # the raw body, as signed
    payload: Any  # the body parsed (JSON or form fields)
    headers: dict[str, str]  # names lower-cased
    query: dict[str, str]


def receive(ports: WebhookPorts, delivery: Delivery, now: float) -> dict[str, Any]:
    """Check the signature, find the user, start the run: `{"runIds": [...]}` (with `skipped`
    when the user is not connected or has the workflow off). A repeated `X-Tether-Delivery-Id`
    answers the first delivery's run ids and starts nothing."""
    unknown = NotFound("No webhook at this URL.", code="webhook_not_found")
    if not HOOK_ID.fullmatch(delivery.hook_id):
        raise unknown
    secrets = ports.webhooks.secrets(delivery.hook_id, now)
    if not secrets:
        raise unknown
    verify(delivery.headers.get("x-tether-signature"), delivery.body, [s.secret for s in secrets], now)
    newest = secrets[0]
    workflow = ports.runs.workflows.get(newest.project_id, newest.workflow_id)
    if workflow is None or workflow.webhook_id != delivery.hook_id:
        raise unknown
    payload = delivery.payload
    user_id = _user_id(workflow, payload, delivery.headers)
    delivery_id = delivery.headers.get(DELIVERY_HEADER)
    if delivery_id is not None and not 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS:
        raise BadRequest(
            f"X-Tether-Delivery-Id must be 1-{MAX_DELIVERY_ID_CHARS} characters.", code="invalid_delivery_id"
        )
    skipped = workflow_runs.skip_reason(ports.runs, workflow, user_id)
    if skipped is not None:
        return {"runIds": [], "skipped": skipped}
    trigger = {
        "type": "webhook",
        "body": payload,
        "query": delivery.query,
        "headers": visible_headers(delivery.headers.items()),
    }
    run_id = workflow_runs.new_run_id()
    claim: str | None = None
    if delivery_id is not None:
        claim = hashlib.sha256(f"webhook\n{delivery.hook_id}\n{delivery_id}".encode()).hexdigest()
        earlier = ports.runs.workflows.claim_trigger(
            workflow.project_id, user_id, workflow.id, claim, run_id, int(now) + DELIVERY_SECONDS
        )
        if earlier is not None:
            return {"runIds": [earlier]}
    try:
        workflow_runs.start_run(ports.runs, workflow, user_id, trigger, run_id=run_id)
    except TetherError:
        # Recorded as failed to start; the sender's retry of this delivery may start it.
        if claim is not None:
            ports.runs.workflows.release_trigger(workflow.project_id, user_id, workflow.id, claim, run_id)
        raise
    return {"runIds": [run_id]}


def _user_id(workflow: DeployedWorkflow, payload: Any, headers: dict[str, str]) -> str:
    path = workflow.trigger.get("userIdPath")
    found: Any = None
    if path:
        try:
            found = templates.compile_expression(str(path)).search(payload)
        except TetherError:
            found = None
    if found is None or found == "":
        found = headers.get(USER_HEADER)
    if isinstance(found, int) and not isinstance(found, bool):
        found = str(found)
    if not isinstance(found, str) or not found.strip():
        where = f"the body at '{path}' or " if path else ""
        raise BadRequest(
            f"The delivery names no user: put the user id in {where}X-Tether-User-Id.", code="missing_user"
        )
    if len(found) > MAX_USER_ID_CHARS or has_control_characters(found) or has_unpaired_surrogate(found):
        raise BadRequest(
            f"The user id must be 1-{MAX_USER_ID_CHARS} characters without control characters.", code="invalid_user_id"
        )
    return found
