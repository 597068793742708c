"""Use cases: a project's integration settings (admin) and the integrations an end user sees (SDK)."""

from __future__ import annotations

import json
import logging
import re
import secrets as secrets_module
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.repositories import ProjectRepository, UserRepository
from chalicelib.adapters.secrets import SecretStore
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest, TetherError, UpstreamError
from chalicelib.domain.models import IntegrationSettings, ProjectConfig
from chalicelib.domain.portal import PortalSettings, check_user_values, parse_portal_settings
from chalicelib.domain.providers import CATALOGUE, Provider, get_provider
from chalicelib.domain.validation import has_control_characters
from chalicelib.domain.workflows.records import DeployedWorkflow

log = logging.getLogger(__name__)

SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}\Z")  # \Z: `$` would let a trailing newline through
MAX_SCOPES = 50
MAX_CLIENT_FIELD = 512
MASK = "********"
_INTEGRATION_NAMESPACE = uuid.UUID("6f1d8a52-43b7-4c38-9a0e-5b0f0c1d2e3f")


def integration_id(project_id: str, integration_type: str) -> str:
    """The stable id of a project's integration (the SDK addresses uninstalls by it)."""
    return str(uuid.uuid5(_INTEGRATION_NAMESPACE, f"{project_id}:{integration_type}"))


def dev_client(raw: str | None, integration_type: str) -> tuple[str, str] | None:
    """The development client (id, secret) for an integration from the dev-keys secret's JSON
    `{"<type>": {"clientId", "clientSecret"}}`, or None when it holds none (or is unreadable)."""
    try:
        entry = json.loads(raw)[integration_type] if raw else None
        return (str(entry["clientId"]), str(entry["clientSecret"])) if entry else None
    except (ValueError, KeyError, TypeError):
        return None


def dev_key_types(secrets: SecretStore, dev_keys_secret_id: str) -> frozenset[str]:
    """The integrations the deployment has development keys for (read through the secret cache).
    When Secrets Manager cannot answer, every integration is assumed to have them: this feeds the
    `usesDevelopmentKeys` flags, and a connect reads the keys again anyway."""
    try:
        raw = secrets.get(dev_keys_secret_id)
    except TetherError:
        log.warning("could not read the development keys; reporting them as present")
        return frozenset(CATALOGUE)
    return frozenset(t for t in CATALOGUE if dev_client(raw, t) is not None)


def effective_settings(config: ProjectConfig, provider: Provider) -> IntegrationSettings:
    """Stored settings, or the defaults (active, development keys) when none were saved."""
    stored = config.integrations.get(provider.type)
    if stored is not None:
        return stored
    return IntegrationSettings(
        project_id=config.project.id,
        integration_type=provider.type,
        id=integration_id(config.project.id, provider.type),
        client_id=None,
        has_client_secret=False,
        scopes=provider.default_scopes,
        active=True,
        updated_at=config.project.created_at,
    )


@dataclass(frozen=True)
class SettingsInput:
    """A validated admin PUT body; `keep_secret` is True when the caller left `clientSecret` out."""

    client_id: str | None
    client_secret: str | None
    keep_secret: bool
    scopes: tuple[str, ...]
    active: bool
    # None: keep the stored portal settings (the body has no `portal`).
    portal: PortalSettings | None = None


SETTINGS_FIELDS = ("clientId", "clientSecret", "scopes", "active", "portal")
REQUIRED_ON_PUT = ("clientId", "scopes", "active")


def parse_settings_input(
    body: dict[str, Any], provider: Provider, current: IntegrationSettings | None = None
) -> SettingsInput:
    """Validate a settings body `{"clientId", "clientSecret"?, "scopes", "active", "portal"?}`.

    Without `current` (PUT) the body replaces the settings, so `clientId`, `scopes` and `active`
    are required; with `current` (PATCH) a missing field keeps its current value. `portal` (what
    the Connect Portal shows, `chalicelib.domain.portal`) is optional on both: left out, the
    stored one stays. Every problem is reported at once, in one 400 whose code is the first
    problem's."""
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(body) - set(SETTINGS_FIELDS))
    if unknown:
        problems.append(("unknown_field", f"Unknown field(s): {', '.join(unknown)[:200]}."))
    if current is None:
        problems += [("missing_field", f"Field '{n}' is required.") for n in REQUIRED_ON_PUT if n not in body]
    client_id = current.client_id if current is not None else None
    if "clientId" in body:
        client_id = _optional_text(body, "clientId", problems)
    keep_secret = "clientSecret" not in body
    client_secret = None if keep_secret else _optional_text(body, "clientSecret", problems)
    scopes = current.scopes if current is not None else ()
    if "scopes" in body:
        scopes = _scopes(body["scopes"], provider, problems)
    active = current.active if current is not None else True
    if "active" in body:
        if isinstance(body["active"], bool):
            active = body["active"]
        else:
            problems.append(("invalid_field", "Field 'active' must be true or false."))
    portal = None
    if "portal" in body:
        try:
            portal = parse_portal_settings(body["portal"])
        except ValueError as problem:
            problems.append(("invalid_field", str(problem)))
    if problems:
        raise BadRequest(" ".join(message for _, message in problems), code=problems[0][0])
    return SettingsInput(client_id, client_secret, keep_secret, scopes, active, portal)


def _scopes(value: Any, provider: Provider, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        problems.append(("invalid_field", "Field 'scopes' must be a list of strings."))
        return ()
    if len(value) > MAX_SCOPES:
        problems.append(("invalid_field", f"At most {MAX_SCOPES} scopes are allowed."))
        return ()
    if not all(SCOPE_PATTERN.match(scope) for scope in value):
        problems.append(("invalid_field", "Each scope must be 1-64 letters, digits or '_.:-' characters."))
        return ()
    unknown = [scope for scope in dict.fromkeys(value) if scope not in provider.known_scopes]
    if unknown:
        names = ", ".join(f"'{scope}'" for scope in unknown)
        valid = ", ".join(sorted(provider.known_scopes))
        problems.append(
            ("invalid_field", f"Field 'scopes': unknown {provider.service_name} scope(s) {names}; valid: {valid}.")
        )
        return ()
    return tuple(dict.fromkeys(value))


def _optional_text(body: dict[str, Any], name: str, problems: list[tuple[str, str]]) -> str | None:
    value = body[name]
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(("invalid_field", f"Field '{name}' must be a string or null."))
        return None
    value = value.strip()
    if len(value) > MAX_CLIENT_FIELD or has_control_characters(value):
        problems.append(("invalid_field", f"Field '{name}' is not a valid value."))
        return None
    return value or None


def put_integration_settings(
    projects: ProjectRepository,
    secrets: SecretStore,
    secret_id: str,
    config: ProjectConfig,
    integration_type: str,
    update: SettingsInput,
) -> IntegrationSettings:
    """Store a project's integration settings; the client secret goes to Secrets Manager only.

    Omitting `clientSecret` keeps the stored one; `null` removes it. A client id without any
    secret (given or stored), or a secret without a client id, is refused.

    Each client secret value is a new secret `<secret_id>/<version>` that the settings record
    names, so a failed write of either leaves the old client id paired with the old secret.
    A replaced secret is deleted (with a recovery window) once the record no longer names it;
    the record lists it until then, and the next write retries a failed deletion.
    """
    provider = get_provider(integration_type)
    # What the table holds now, not a container's cached copy: the secret names must be current.
    current = effective_settings(projects.load_config(config.project.id) or config, provider)
    if update.client_id is None and update.client_secret is not None:
        raise BadRequest("clientSecret needs a clientId.", code="invalid_field")
    keeps_stored = update.keep_secret and current.has_client_secret
    if update.client_id is not None and update.client_secret is None and not keeps_stored:
        raise BadRequest("clientId needs a clientSecret (none is stored yet).", code="missing_field")
    stored_name = stored_secret_name(current, secret_id)
    stale = _delete_secrets(secrets, current.stale_client_secrets)
    new_name: str | None = None
    if update.client_secret is not None:
        new_name = f"{secret_id}/{_secret_version()}"
        if not secrets.create(new_name, update.client_secret):
            raise UpstreamError("Could not store the client secret.", code="secrets_unavailable")
    elif update.client_id is not None and keeps_stored:
        new_name = stored_name
    replaced = stored_name if stored_name is not None and stored_name != new_name else None
    settings = IntegrationSettings(
        project_id=config.project.id,
        integration_type=provider.type,
        id=current.id,
        client_id=update.client_id,
        has_client_secret=new_name is not None,
        scopes=update.scopes,
        active=update.active,
        updated_at=utc_now_iso(),
        client_secret_name=new_name,
        stale_client_secrets=(*stale, replaced) if replaced else stale,
        portal=current.portal if update.portal is None else update.portal,
    )
    try:
        projects.put_integration(settings)
    except TetherError:
        if new_name is not None and new_name != stored_name:
            _delete_secrets(secrets, (new_name,))  # nothing names it; best effort
        raise
    if replaced is not None:
        _delete_secrets(secrets, (replaced,))
    return settings


def stored_secret_name(settings: IntegrationSettings, legacy_secret_id: str) -> str | None:
    """The Secrets Manager name of the client secret the settings use, if they have one."""
    if not settings.has_client_secret:
        return None
    return settings.client_secret_name or legacy_secret_id


def _secret_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets_module.token_hex(4)


def _delete_secrets(secrets: SecretStore, names: tuple[str, ...]) -> tuple[str, ...]:
    """Schedule each secret for deletion; returns those that could not be deleted now."""
    failed = []
    for name in names:
        try:
            secrets.delete(name)
        except TetherError:
            log.warning("could not delete a replaced client secret; the next settings write retries")
            failed.append(name)
    return tuple(failed)


def settings_view(settings: IntegrationSettings, dev_keys: Collection[str]) -> dict[str, Any]:
    """The admin API's JSON form; the client secret is write-only and shown masked.
    `dev_keys`: the integrations the deployment has development keys for (`dev_key_types`)."""
    return {
        "id": settings.id,
        "type": settings.integration_type,
        "clientId": settings.client_id,
        "clientSecret": MASK if settings.has_client_secret else None,
        "scopes": list(settings.scopes),
        "active": settings.active,
        "usesDevelopmentKeys": settings.uses_dev_keys and settings.integration_type in dev_keys,
        "portal": settings.portal.to_json(),
        "updatedAt": settings.updated_at,
    }


def sdk_integrations(
    config: ProjectConfig, workflows: Sequence[DeployedWorkflow] = (), *, dev_keys: Collection[str]
) -> list[dict[str, Any]]:
    """The `GET /sdk/integrations` list, in the shape the Paragon SDK expects, with the project's
    workflows listed under the integration they act on (`dev_keys` as in `settings_view`)."""
    listing = []
    for provider in CATALOGUE.values():
        settings = effective_settings(config, provider)
        mine = [w for w in workflows if w.integration == provider.type]
        listing.append(
            {
                "id": settings.id,
                "type": provider.type,
                "name": provider.name,
                "brandColor": provider.brand_color,
                "isActive": settings.active,
                "needPreOauthInputs": False,
                "authenticationType": "oauth",
                "usesDevelopmentKeys": settings.uses_dev_keys and provider.type in dev_keys,
                "configs": [
                    {
                        "values": {
                            "workflowMeta": {w.id: {"id": w.id, "inputs": []} for w in mine},
                            **settings.portal.sdk_values(),
                        }
                    }
                ],
                "workflows": [
                    {"id": w.id, "description": w.definition.get("name", w.id), "integrationId": settings.id}
                    for w in mine
                ],
                "sdkIntegrationConfig": {
                    "accountTypes": [],
                    "authConfigInputs": [],
                    "postOauthInputs": [],
                    "oauthInputs": [],
                    "dataSources": {},
                },
            }
        )
    return listing


def save_user_settings(
    users: UserRepository, config: ProjectConfig, user_id: str, integration_type: str, values: Any
) -> dict[str, Any]:
    """Store an end user's portal settings values (the SDK's `updateIntegrationUserSettings`
    sends `{config: {sharedSettings}}`), checked against the inputs the project declares; answer
    what is stored. A value of the wrong kind is a 400 naming the setting."""
    portal = effective_settings(config, get_provider(integration_type)).portal
    try:
        kept = check_user_values(portal, values)
    except ValueError as problem:
        raise BadRequest(str(problem), code="invalid_setting") from None
    users.put_shared_settings(config.project.id, user_id, integration_type, kept, utc_now_iso())
    return kept
