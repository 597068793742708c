"""Use cases: a project's user-token policy (whether tokens must name the project in `aud`)."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.repositories import ProjectRepository
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Project
from chalicelib.domain.validation import check_fields


def token_policy_view(project: Project) -> dict[str, Any]:
    """The policy as the admin API shows it."""
    return {"requireAudience": project.require_token_audience}


def parse_token_policy(body: dict[str, Any]) -> bool:
    """Read `{"requireAudience": bool}`; anything else is a 400."""
    check_fields(body, allowed={"requireAudience"}, required=["requireAudience"])
    required = body["requireAudience"]
    if not isinstance(required, bool):
        raise BadRequest("Field 'requireAudience' must be true or false.", code="invalid_field")
    return required


def set_require_audience(projects: ProjectRepository, project_id: str, required: bool) -> None:
    """Store whether the project's user tokens must carry an `aud` claim naming it."""
    projects.set_require_token_audience(project_id, required, utc_now_iso())
