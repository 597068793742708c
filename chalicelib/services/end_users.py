"""Use cases of the SDK's end-user routes: authenticate, `/sdk/me`, metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from chalicelib.adapters.repositories import UserRepository
from chalicelib.domain.clock import iso_at
from chalicelib.domain.errors import BadRequest, Unauthorized
from chalicelib.domain.models import Credential, EndUser, ProjectConfig
from chalicelib.domain.validation import check_fields
from chalicelib.services.credentials import integrations_state
from chalicelib.services.project_config import ProjectConfigCache
from chalicelib.services.projects import parse_bearer
from chalicelib.services.user_tokens import TokenRules, VerifiedUser, verify_user_token

MAX_META_BYTES = 16 * 1024
ACCESSIBLE_FEATURES = ["headless-cp"]
BILLING_PLAN = "self-hosted"


def authenticate_user(
    configs: ProjectConfigCache, project_id: str, authorization: str | None, rules: TokenRules
) -> tuple[ProjectConfig, VerifiedUser]:
    """Verify the end user's `Authorization: Bearer <user token>` for this project."""
    token = parse_bearer(authorization)
    config = configs.get(project_id)
    if config is None:
        # Same answer as a token this project did not sign: project ids are not probeable.
        raise Unauthorized(
            "The user token is not signed by a key registered for this project.", code="invalid_signature"
        )
    return config, verify_user_token(config, token, rules, time.time())


LAST_SEEN_RESOLUTION_SECONDS = 60


def record_user(users: UserRepository, verified: VerifiedUser, now: float) -> EndUser:
    """The end user's record, created on first sight; `lastSeenAt` moves to `now` (Unix seconds)
    when it is at least a minute old, so a busy user costs one write a minute at most."""
    return users.get_or_create(
        verified.project_id, verified.user_id, iso_at(now), touch_before=iso_at(now - LAST_SEEN_RESOLUTION_SECONDS)
    )


def me_view(
    config: ProjectConfig,
    user: EndUser,
    credentials: list[Credential],
    workflow_settings: dict[str, dict[str, Any]] | None = None,
    *,
    dev_keys: Collection[str],
    shared_settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `GET /sdk/me` body, in the shape the Paragon SDK expects (`workflow_settings`: the
    user's `{<workflowId>: {enabled, settings}}` per integration type; `shared_settings`: the
    user's portal settings values per integration type; `dev_keys`: the integrations the
    deployment has development keys for)."""
    integrations = integrations_state(
        config, credentials, workflow_settings, dev_keys=dev_keys, shared_settings=shared_settings
    )
    return {
        "id": user.user_id,
        "integrations": integrations,
        "meta": user.meta,
        "resources": [],
        "project": {
            "id": config.project.id,
            "billingPlan": BILLING_PLAN,
            "accessibleFeatures": list(ACCESSIBLE_FEATURES),
        },
    }


def update_meta(users: UserRepository, verified: VerifiedUser, body: dict[str, Any], now: float) -> EndUser:
    """Replace the end user's metadata from a `{"meta": {...}}` body."""
    check_fields(body, allowed={"meta"}, required=["meta"])
    meta = body["meta"]
    if not isinstance(meta, dict):
        raise BadRequest("Field 'meta' must be a JSON object.", code="invalid_field")
    if len(json.dumps(meta, separators=(",", ":")).encode()) > MAX_META_BYTES:
        raise BadRequest(f"Field 'meta' must encode to at most {MAX_META_BYTES} bytes.", code="invalid_field")
    record_user(users, verified, now)
    return users.update_meta(verified.project_id, verified.user_id, meta, iso_at(now))
