"""The step runner Lambda's entry point (registered in app.py with `@app.lambda_function`)."""

from __future__ import annotations

from typing import Any

from chalicelib.services import step_runner
from chalicelib.wiring import get_services


def run_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one workflow step for a state machine. Raising fails the Lambda invocation: the
    exception's class name is the error the state machine retries or catches. The stack's
    EventBridge rule also sends here the Standard executions that ended badly, to be counted."""
    if event.get("source") == "aws.states":
        return step_runner.execution_ended(get_services().runner_ports, event)
    return step_runner.handle(get_services().runner_ports, event)
