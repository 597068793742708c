"""Plain data records of the domain. No boto3, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.portal import PortalSettings


@dataclass(frozen=True)
class Project:
    """A customer's project: the tenant every other record belongs to."""

    id: str
    name: str
    secret_key_hash: str
    created_at: str
    # When set, user tokens must carry an `aud` claim naming this project.
    require_token_audience: bool = False


@dataclass(frozen=True)
class SigningKey:
    """A customer's public key that verifies user tokens for one project."""

    project_id: str
    kid: str
    public_key_pem: str
    key_type: str  # "RSA" or "EC"
    created_at: str


@dataclass(frozen=True)
class IntegrationSettings:
    """A project's configuration of one integration (e.g. its WordPress.com app)."""

    project_id: str
    integration_type: str
    id: str
    client_id: str | None
    has_client_secret: bool
    scopes: tuple[str, ...]
    active: bool
    updated_at: str
    # The Secrets Manager secret holding the client secret: each value gets a secret of its own,
    # named here, so the record and the secret always change together. None on records written
    # before that (their secret has the fixed name `Settings.client_secret_id`).
    client_secret_name: str | None = None
    # Secrets this record replaced whose deletion is not confirmed yet; the next write retries.
    stale_client_secrets: tuple[str, ...] = ()
    # What the Connect Portal shows for this integration (description, overview, accent colour,
    # the end user's settings inputs).
    portal: PortalSettings = field(default_factory=PortalSettings)

    @property
    def uses_dev_keys(self) -> bool:
        """True when the project left its own OAuth app blank and runs on the deployment's dev keys."""
        return not self.client_id or not self.has_client_secret


@dataclass(frozen=True)
class ProjectConfig:
    """Everything needed to authorise a request to a project, loaded in one read."""

    project: Project
    signing_keys: tuple[SigningKey, ...]
    integrations: dict[str, IntegrationSettings] = field(default_factory=dict)
    # Web origins allowed to use the SDK routes and open the connect popup; empty = any origin.
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndUser:
    """A customer's end user, as identified by the `sub` of their user token."""

    project_id: str
    user_id: str
    meta: dict[str, Any]
    created_at: str
    last_seen_at: str


CREDENTIAL_VALID = "VALID"
CREDENTIAL_INVALID = "INVALID"


@dataclass(frozen=True)
class Credential:
    """An end user's connected provider account. The token itself is never part of this record."""

    project_id: str
    user_id: str
    id: str
    integration_type: str
    status: str
    provider_account_id: str
    provider_data: dict[str, Any]
    scopes: tuple[str, ...]
    uses_dev_keys: bool
    created_at: str
    updated_at: str


SESSION_PENDING = "PENDING"
SESSION_COMPLETE = "COMPLETE"
SESSION_FAILED = "ERROR"


@dataclass(frozen=True)
class ConnectSession:
    """One `installIntegration` attempt, polled by the SDK under its `oauthMetaKeyId`."""

    project_id: str
    user_id: str
    id: str
    integration_type: str
    status: str
    credential_id: str | None
    error_code: str | None
    error_message: str | None
    expires_at: int


@dataclass(frozen=True)
class OAuthState:
    """What an OAuth `state` value stands for, kept server-side until the callback consumes it."""

    project_id: str
    user_id: str
    session_id: str
    integration_type: str
    allow_multiple: bool
    code_verifier: str | None = field(repr=False)
    expires_at: int
