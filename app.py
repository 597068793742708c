"""Tether's Lambda entry point: builds the Chalice app and registers the blueprints."""

from chalice.app import Chalice

from chalicelib.api.access_log import access_log
from chalicelib.api.admin import admin
from chalicelib.api.connect import connect
from chalicelib.api.sdk import sdk
from chalicelib.api.users import users
from chalicelib.logging_setup import configure_logging

# Logging is ours: records propagate to the root handler Lambda (or `tether dev`) installs.
app = Chalice(app_name="tether", configure_logs=False)
configure_logging()
app.register_middleware(access_log, "http")
for blueprint in (admin, users, sdk, connect):
    app.register_blueprint(blueprint)
