"""Tether's Lambda entry point: builds the Chalice app and registers the blueprints."""

from chalicelib.api.admin import admin
from chalicelib.api.application import ThreadSafeChalice
from chalicelib.api.connect import connect
from chalicelib.api.discovery import discovery
from chalicelib.api.middleware import access_log, default_accept, refuse_misconfigured
from chalicelib.api.portal import portal
from chalicelib.api.proxy import expand_greedy_proxy, proxy
from chalicelib.api.schedule_dispatcher import dispatch_schedule
from chalicelib.api.sdk import sdk
from chalicelib.api.sdk_workflows import sdk_workflows
from chalicelib.api.step_runner import run_step
from chalicelib.api.users import users
from chalicelib.api.webhooks import webhooks
from chalicelib.api.workflows import workflow_admin
from chalicelib.logging_setup import configure_logging

# Logging is ours: records propagate to the root handler Lambda (or `tether dev`) installs.
app = ThreadSafeChalice(app_name="tether", configure_logs=False)
configure_logging()
# Every response may be binary (proxied images, media): API Gateway passes bodies through as is.
app.api.binary_types = ["*/*"]
# The deploy template routes the proxy through one greedy resource: hand it to the per-depth view.
app.event_adapters.append(expand_greedy_proxy)
app.register_middleware(access_log, "http")
app.register_middleware(refuse_misconfigured, "http")
app.register_middleware(default_accept, "http")
for blueprint in (admin, users, workflow_admin, webhooks, sdk, sdk_workflows, connect, portal, proxy, discovery):
    app.register_blueprint(blueprint)
# The workflow step runner: a Lambda of its own, invoked by the workflows' state machines.
step_runner = app.lambda_function(name="step_runner")(run_step)
# The schedule dispatcher: EventBridge Scheduler invokes it on each tick of a scheduled workflow.
schedule_dispatcher = app.lambda_function(name="schedule_dispatcher")(dispatch_schedule)
