"""Logging policy: our own loggers at INFO, chatty libraries that could echo secrets kept quiet."""

from __future__ import annotations

import logging

# botocore logs request parameters (secret values included) at DEBUG; urllib3 logs URLs with
# query strings. Neither may ever log below WARNING, whatever the root level is. `responses` (moto's
# HTTP mock, in the local stack) logs a line for every request it lets through to the sandbox.
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "responses")


def configure_logging() -> None:
    """Apply the policy (idempotent and cheap: no handlers are created here)."""
    logging.getLogger("tether").setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
