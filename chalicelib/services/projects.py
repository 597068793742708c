"""Use cases: create projects and authenticate their admin (project secret key) callers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from chalicelib.adapters.repositories import ProjectRepository
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest, Unauthorized
from chalicelib.domain.models import Project, ProjectConfig
from chalicelib.services.project_config import ProjectConfigCache

SECRET_KEY_PREFIX = "tsk_"  # noqa: S105 - a prefix, not a secret
MAX_PROJECT_NAME = 100


@dataclass(frozen=True)
class NewProject:
    """A created project and its secret key, which exists only in this value."""

    project: Project
    secret_key: str


def hash_secret_key(secret_key: str) -> str:
    """SHA-256 of a project secret key (256 random bits, so no slow hash is needed)."""
    return hashlib.sha256(secret_key.encode("utf-8")).hexdigest()


def _new_secret_key() -> str:
    return SECRET_KEY_PREFIX + secrets.token_urlsafe(32)


def create_project(projects: ProjectRepository, name: str) -> NewProject:
    """Create a project with a fresh secret key; only the key's hash is stored."""
    name = name.strip()
    if not name or len(name) > MAX_PROJECT_NAME:
        raise BadRequest(f"A project name must be 1 to {MAX_PROJECT_NAME} characters.", code="invalid_name")
    secret_key = _new_secret_key()
    project = Project(
        id=str(uuid.uuid4()),
        name=name,
        secret_key_hash=hash_secret_key(secret_key),
        created_at=utc_now_iso(),
    )
    projects.create(project)
    return NewProject(project, secret_key)


def rotate_secret_key(projects: ProjectRepository, project_id: str) -> str:
    """Give the project a new secret key and return it (only its hash is stored; the old key
    stops working, in warm containers once their cached project config expires)."""
    secret_key = _new_secret_key()
    projects.set_secret_key_hash(project_id, hash_secret_key(secret_key), utc_now_iso())
    return secret_key


def parse_bearer(authorization: str | None) -> str:
    """The credential of an `Authorization: Bearer <credential>` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("An Authorization: Bearer header is required.", code="missing_authorization")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthorized("The Authorization header must use the Bearer scheme.", code="invalid_authorization")
    return credential


def authenticate_admin(configs: ProjectConfigCache, project_id: str, authorization: str | None) -> ProjectConfig:
    """Check a project secret key against the project's stored hash (constant time).

    An unknown project and a wrong key get the same answer, so project ids cannot be probed.
    """
    presented = parse_bearer(authorization)
    config = configs.get(project_id)
    expected = config.project.secret_key_hash if config is not None else hash_secret_key("")
    matches = hmac.compare_digest(hash_secret_key(presented), expected)
    if config is None or not matches:
        raise Unauthorized("The project secret key is not valid for this project.", code="invalid_project_key")
    return config
