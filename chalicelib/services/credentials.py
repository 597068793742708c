"""Use cases on stored credentials: the SDK's and the admin API's views, removal, health."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from chalicelib.adapters.connections import CredentialRepository, SealedCredential
from chalicelib.adapters.oauth_client import token_is_active
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.domain.models import CREDENTIAL_INVALID, CREDENTIAL_VALID, Credential, ProjectConfig
from chalicelib.domain.providers import CATALOGUE, Provider, get_provider
from chalicelib.services.integrations import effective_settings

_CONFIGURATION_NAMESPACE = uuid.UUID("0b6f3f1e-8f0e-4d7c-9f43-9c1b1f8f2a51")


def configuration_id(credential_id: str) -> str:
    """The id of a credential's (single, default) configuration."""
    return str(uuid.uuid5(_CONFIGURATION_NAMESPACE, credential_id))


def default_credential(credentials: list[Credential]) -> Credential | None:
    """The credential used when the caller names none: the oldest VALID one, else the oldest."""
    valid = [c for c in credentials if c.status == CREDENTIAL_VALID]
    if valid:
        return valid[0]
    return credentials[0] if credentials else None


def credential_view(
    config: ProjectConfig,
    credential: Credential,
    workflow_settings: dict[str, Any] | None = None,
    shared_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A credential in the SDK's shape, with the user's `workflowSettings` and portal settings
    values (`sharedSettings`) when given. Tokens are never part of it."""
    provider = get_provider(credential.integration_type)
    integration_id = effective_settings(config, provider).id
    return {
        "id": credential.id,
        "projectId": credential.project_id,
        "integrationId": integration_id,
        "integrationType": credential.integration_type,
        "status": credential.status,
        "providerId": credential.provider_account_id,
        "providerData": credential.provider_data,
        "scopes": list(credential.scopes),
        "usesDevelopmentKeys": credential.uses_dev_keys,
        "dateCreated": credential.created_at,
        "dateUpdated": credential.updated_at,
        "configurations": [
            {
                "id": configuration_id(credential.id),
                "connectCredentialId": credential.id,
                "isDefault": True,
                "workflowSettings": workflow_settings or {},
                "sharedSettings": shared_settings or {},
                "configMeta": {},
                "dateCreated": credential.created_at,
            }
        ],
    }


def integration_state(
    config: ProjectConfig,
    provider: Provider,
    credentials: list[Credential],
    workflow_settings: dict[str, Any] | None = None,
    *,
    dev_keys: Collection[str],
    shared_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of `/sdk/me`'s `integrations` map."""
    settings = effective_settings(config, provider)
    mine = [c for c in credentials if c.integration_type == provider.type]
    views = [credential_view(config, c, workflow_settings, shared_settings) for c in mine]
    state: dict[str, Any] = {
        "enabled": False,
        "allCredentials": views,
        "allConfigurations": [conf for view in views for conf in view["configurations"]],
        "usesDevelopmentKeys": settings.uses_dev_keys and provider.type in dev_keys,
        "workflowSettings": workflow_settings or {},
        "sharedSettings": shared_settings or {},
    }
    default = default_credential(mine)
    if default is not None:
        state.update(
            {
                "enabled": default.status == CREDENTIAL_VALID,
                "credentialId": default.id,
                "credentialStatus": default.status,
                "providerId": default.provider_account_id,
                "providerData": default.provider_data,
            }
        )
    return state


def integrations_state(
    config: ProjectConfig,
    credentials: list[Credential],
    workflow_settings: dict[str, dict[str, Any]] | None = None,
    *,
    dev_keys: Collection[str],
    shared_settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `integrations` map of `/sdk/me`: every catalogue integration, connected or not, with
    the user's `workflowSettings` per integration type when given; `dev_keys`: the integrations
    the deployment has development keys for."""
    settings = workflow_settings or {}
    shared = shared_settings or {}
    return {
        provider.type: integration_state(
            config,
            provider,
            credentials,
            settings.get(provider.type),
            dev_keys=dev_keys,
            shared_settings=shared.get(provider.type),
        )
        for provider in CATALOGUE.values()
    }


def delete_credential(
    credentials: CredentialRepository, project_id: str, user_id: str, credential_id: str
) -> Credential:
    """Delete one credential (and its encrypted token); frees a dev-keys seat when it was the last."""
    return credentials.delete(project_id, user_id, credential_id)


def uninstall(
    credentials: CredentialRepository,
    config: ProjectConfig,
    user_id: str,
    integration_id: str,
    credential_id: str | None,
) -> list[str]:
    """The SDK's `uninstallIntegration`: remove the named credential, or all of the integration's.
    The integration is named by its id (what the SDK sends) or its type (`wordpress`)."""
    provider = CATALOGUE.get(integration_id) or next(
        (p for p in CATALOGUE.values() if effective_settings(config, p).id == integration_id), None
    )
    if provider is None:
        raise NotFound("No such integration in this project.", code="integration_not_found")
    mine = [c for c in credentials.list_for_user(config.project.id, user_id) if c.integration_type == provider.type]
    if credential_id is not None:
        mine = [c for c in mine if c.id == credential_id]
        if not mine:
            raise NotFound("No such credential.", code="credential_not_found")
    for credential in mine:
        delete_credential(credentials, config.project.id, user_id, credential.id)
    return [c.id for c in mine]


CHECK_VALID = "valid"
CHECK_INVALID = "invalid"
CHECK_UNKNOWN = "unknown"


def mark_invalid(credentials: CredentialRepository, stored: SealedCredential) -> bool:
    """Record that the provider rejected the token read with `stored`.

    Nothing changes (False) if the credential holds another token by now: a user who
    reconnected while a request with the old token was failing keeps a VALID credential.
    """
    return credentials.set_status(stored, CREDENTIAL_INVALID, utc_now_iso())


def check_credential(
    credentials: CredentialRepository, stored: SealedCredential, origin: str, client_id: str, timeout: float
) -> tuple[Credential, str]:
    """Ask the provider whether the stored token still works; mark the credential accordingly.

    Returns the credential as it now stands and the verdict: `valid`, `invalid`, or `unknown`.
    `client_id` is the client that issued the token. Only an explicit rejection of the token is
    `invalid`; an unreachable provider, a throttled or failing token-info, or any other answer
    is `unknown` and changes nothing. A verdict on a token the credential no longer holds (the
    user reconnected meanwhile) changes nothing either and is `unknown`.
    """
    credential = stored.credential
    provider = get_provider(credential.integration_type)
    access_token = str(credentials.open_tokens(stored).get("accessToken", ""))
    active = token_is_active(provider, origin, client_id, access_token, timeout)
    if active is None:
        return credential, CHECK_UNKNOWN
    status = CREDENTIAL_VALID if active else CREDENTIAL_INVALID
    verdict = CHECK_VALID if active else CHECK_INVALID
    if status == credential.status:
        return credential, verdict
    now = utc_now_iso()
    if not credentials.set_status(stored, status, now):
        # The token changed (or the credential went) while the provider was asked.
        return credentials.get(credential.project_id, credential.user_id, credential.id), CHECK_UNKNOWN
    return replace(credential, status=status, updated_at=now), verdict


def admin_credential_view(credential: Credential) -> dict[str, Any]:
    """A credential for the admin API: status, account, blog, scopes, dates; never a token."""
    return {
        "id": credential.id,
        "integrationType": credential.integration_type,
        "status": credential.status,
        "providerAccountId": credential.provider_account_id,
        "providerData": credential.provider_data,
        "scopes": list(credential.scopes),
        "usesDevelopmentKeys": credential.uses_dev_keys,
        "createdAt": credential.created_at,
        "updatedAt": credential.updated_at,
    }


def parse_bool_option(raw_json: str | None, name: str) -> bool:
    """Read one boolean out of a JSON-object query parameter (the SDK's `installOptions`)."""
    if not raw_json:
        return False
    try:
        data = json.loads(raw_json)
    except (ValueError, RecursionError):
        raise BadRequest("installOptions is not valid JSON.", code="invalid_install_options") from None
    return isinstance(data, dict) and data.get(name) is True
