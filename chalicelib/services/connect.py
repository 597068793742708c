"""Use cases of the headless connect flow: build-oauth, the OAuth callback and connect sessions."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.adapters.connections import (
    ConnectSessionRepository,
    CredentialRepository,
    DevKeyUsage,
    OAuthStateRepository,
    dev_keys_cap_message,
)
from chalicelib.adapters.oauth_client import (
    ClientCredentials,
    OAuthProviderError,
    TokenSet,
    authorize_url,
    exchange_code,
    fetch_account,
    new_pkce_pair,
)
from chalicelib.adapters.repositories import UserRepository
from chalicelib.adapters.secrets import SecretStore
from chalicelib.config import Settings
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound, TetherError
from chalicelib.domain.models import (
    CREDENTIAL_VALID,
    SESSION_COMPLETE,
    SESSION_FAILED,
    SESSION_PENDING,
    ConnectSession,
    Credential,
    IntegrationSettings,
    OAuthState,
    ProjectConfig,
)
from chalicelib.domain.providers import Provider, get_provider
from chalicelib.services.integrations import dev_client, effective_settings, stored_secret_name
from chalicelib.services.project_config import ProjectConfigCache
from chalicelib.services.user_tokens import VerifiedUser

STATE_TTL_SECONDS = 600
SESSION_TTL_SECONDS = 900
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,128}\Z")  # \Z: `$` would let a trailing newline through
FAILED_CREDENTIAL_PREFIX = "failed-"
MAX_CODE_CHARS = 2048
_CREDENTIAL_NAMESPACE = uuid.UUID("5d1c7f0a-2b8e-4f6a-9c3d-7e1f0b2a4c68")
log = logging.getLogger("tether.connect")


class ConnectFailed(TetherError):
    """A connect attempt ended in an error; reported where the SDK looks for its credential."""

    status = 422
    code = "connect_failed"


@dataclass(frozen=True)
class ConnectPorts:
    """Everything the connect use cases touch."""

    settings: Settings
    secrets: SecretStore
    credentials: CredentialRepository
    sessions: ConnectSessionRepository
    states: OAuthStateRepository
    dev_keys: DevKeyUsage
    users: UserRepository
    clock: Callable[[], float] = field(default=time.time)
    """The wall clock (Unix seconds) sessions and states expire on."""
    on_connected: Callable[[Credential], None] = field(default=lambda credential: None)
    """Called once a callback has stored a credential (starts `integration_enabled` workflows)."""


def browser_binding(project_id: str, user_id: str) -> str:
    """The value of the cookie that ties a connect popup to the end user who opened it."""
    return hashlib.sha256(f"{project_id}\n{user_id}".encode()).hexdigest()[:32]


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def resolve_client(
    ports: ConnectPorts,
    config: ProjectConfig,
    provider: Provider,
    *,
    dev_keys: bool | None = None,
    fresh: bool = False,
) -> ClientCredentials:
    """The OAuth client to use: the project's own, or the deployment's development keys when the
    project left its own blank. `dev_keys` forces one of the two (the client that issued a
    stored credential, whatever the project uses today); `fresh` reads the secrets uncached."""
    settings = effective_settings(config, provider)
    use_dev_keys = settings.uses_dev_keys if dev_keys is None else dev_keys
    if not use_dev_keys:
        name = stored_secret_name(settings, ports.settings.client_secret_id(config.project.id, provider.type))
        secret = ports.secrets.get(name, fresh=fresh) if name is not None else None
        if settings.client_id is not None and secret:
            return ClientCredentials(settings.client_id, secret, uses_dev_keys=False)
        raise Conflict(
            f"The project's {provider.service_name} client id or secret is missing; store them again.",
            code="client_secret_missing",
        )
    dev = dev_client(ports.secrets.get(ports.settings.dev_keys_secret_id, fresh=fresh), provider.type)
    if dev is None:
        raise Conflict(
            f"No {provider.service_name} OAuth client is configured: set the project's clientId and clientSecret.",
            code="integration_not_configured",
        )
    return ClientCredentials(dev[0], dev[1], uses_dev_keys=True)


def check_can_connect(
    ports: ConnectPorts, config: ProjectConfig, user: VerifiedUser, integration_type: str
) -> tuple[Provider, IntegrationSettings, ClientCredentials]:
    """What must hold before a consent page can open: a known integration, switched on, an OAuth
    client to use, and (with the development keys) a seat under their cap for this user. Raises
    the TetherError that says what is missing."""
    provider = get_provider(integration_type)
    settings = effective_settings(config, provider)
    if not settings.active:
        raise Forbidden(f"{provider.service_name} is not active in this project.", code="integration_inactive")
    client = resolve_client(ports, config, provider)
    cap = ports.settings.dev_keys_max_users
    if client.uses_dev_keys and not ports.dev_keys.would_admit(config.project.id, user.user_id, cap):
        raise Forbidden(dev_keys_cap_message(cap), code="dev_keys_user_cap")
    return provider, settings, client


def _record_failed_start(
    ports: ConnectPorts, project_id: str, user_id: str, session_id: str, integration_type: str, error: TetherError
) -> None:
    failed = ConnectSession(
        project_id=project_id,
        user_id=user_id,
        id=session_id,
        integration_type=integration_type[:64],
        status=SESSION_FAILED,
        credential_id=None,
        error_code=error.code,
        error_message=error.message,
        expires_at=int(ports.clock()) + SESSION_TTL_SECONDS,
    )
    try:
        ports.sessions.put(failed)
    except TetherError:
        log.warning("could not record the failed start of connect session (%s)", error.code)


def start_connect(
    ports: ConnectPorts,
    config: ProjectConfig,
    user: VerifiedUser,
    integration_type: str,
    session_id: str,
    allow_multiple: bool,
) -> str:
    """`build-oauth`: open a connect session and return the provider's consent URL.

    When the connect cannot start (see `check_can_connect`), the session is stored as failed
    with that error before it is raised: the SDK ignores build-oauth's error answer and only
    polls the session, so this is what makes `installIntegration` reject at once."""
    if not SESSION_ID_PATTERN.match(session_id):
        raise BadRequest("oauthMetaKeyId must be 6-128 letters, digits, '-' or '_'.", code="invalid_session_id")
    try:
        provider, settings, client = check_can_connect(ports, config, user, integration_type)
    except TetherError as error:
        _record_failed_start(ports, config.project.id, user.user_id, session_id, integration_type, error)
        raise
    ports.users.get_or_create(config.project.id, user.user_id, utc_now_iso())
    now = int(ports.clock())
    state = f"{config.project.id}.{secrets.token_urlsafe(32)}"
    verifier, challenge = new_pkce_pair() if provider.supports_pkce else (None, None)
    ports.sessions.put(
        ConnectSession(
            project_id=config.project.id,
            user_id=user.user_id,
            id=session_id,
            integration_type=provider.type,
            status=SESSION_PENDING,
            credential_id=None,
            error_code=None,
            error_message=None,
            expires_at=now + SESSION_TTL_SECONDS,
        )
    )
    ports.states.put(
        _hash_state(state),
        OAuthState(
            project_id=config.project.id,
            user_id=user.user_id,
            session_id=session_id,
            integration_type=provider.type,
            allow_multiple=allow_multiple,
            code_verifier=verifier,
            expires_at=now + STATE_TTL_SECONDS,
        ),
    )
    return authorize_url(
        provider,
        ports.settings.wpcom_origin,
        client.client_id,
        ports.settings.oauth_redirect_uri,
        settings.scopes,
        state,
        challenge,
    )


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback page tells the person in the popup."""

    status: int
    ok: bool
    title: str
    detail: str


def _refused(title: str, detail: str, status: int = 400) -> CallbackOutcome:
    return CallbackOutcome(status=status, ok=False, title=title, detail=detail)


def complete_oauth(
    ports: ConnectPorts, configs: ProjectConfigCache, query: dict[str, str], binding_cookie: str | None
) -> CallbackOutcome:
    """The OAuth callback: check the popup's binding, consume the state once, exchange the code,
    store the credential.

    The binding cookie is checked before the state is consumed and a mismatch leaves state and
    session untouched: a stranger who holds the callback URL cannot burn the user's attempt.
    Every failure after the state is consumed is also written to the connect session, so the
    SDK's polling ends with the same message.
    """
    raw_state = query.get("state") or ""
    project_id, _, _ = raw_state.partition(".")
    if not _is_uuid(project_id) or len(raw_state) > 200:
        return _refused("Connection failed", "The sign-in response is missing a valid state.")
    state_hash = _hash_state(raw_state)
    pending = ports.states.peek(project_id, state_hash)
    if pending is None:
        return _refused("Connection failed", "This sign-in response was already used or is not known.")
    # The HTTP layer refuses a header that cannot be encoded (a lone surrogate) before this.
    if binding_cookie is None or not secrets.compare_digest(
        binding_cookie.encode(), browser_binding(pending.project_id, pending.user_id).encode()
    ):
        # Not recorded on the session either: a stranger must not end the user's attempt.
        return _refused("Connection failed", "This sign-in was started by someone else or in another browser.", 403)
    state = ports.states.consume(project_id, state_hash)
    if state is None:
        return _refused("Connection failed", "This sign-in response was already used or is not known.")

    def fail(error: TetherError) -> CallbackOutcome:
        ports.sessions.fail(state.project_id, state.user_id, state.session_id, error.code, error.message)
        return _refused("Connection failed", error.message, status=error.status)

    if state.expires_at <= int(ports.clock()):
        return fail(BadRequest("The connection attempt expired; please start again.", code="state_expired"))
    provider = get_provider(state.integration_type)
    if query.get("error"):
        error = str(query["error"])[:64]
        description = str(query.get("error_description") or "")[:300]
        message = f"{provider.service_name} did not grant access ({error})"
        message += f": {description}" if description else "."
        code = "oauth_access_denied" if error == "access_denied" else "oauth_error"
        return fail(BadRequest(message, code=code))
    code = query.get("code") or ""
    if not code or len(code) > MAX_CODE_CHARS:
        return fail(BadRequest(f"{provider.service_name} sent no authorization code.", code="missing_code"))
    config = configs.get(state.project_id, fresh=True)
    if config is None:
        return fail(NotFound("The project no longer exists.", code="project_not_found"))
    if not effective_settings(config, provider).active:
        # Deactivated after the consent page was shown: store nothing.
        return fail(Forbidden(f"{provider.service_name} is not active in this project.", code="integration_inactive"))
    try:
        client, tokens = _exchange_code(ports, config, provider, state, code)
        account = fetch_account(
            provider, ports.settings.wpcom_origin, tokens.access_token, ports.settings.provider_timeout_seconds
        )
        credential = store_credential(ports, state, provider, client, tokens, account)
    except TetherError as error:
        return fail(error)
    ports.sessions.complete(state.project_id, state.user_id, state.session_id, credential.id)
    ports.on_connected(credential)
    return CallbackOutcome(
        status=200,
        ok=True,
        title="Connected",
        detail=f"Your {provider.service_name} account is connected. You can close this window.",
    )


def _exchange_code(
    ports: ConnectPorts,
    config: ProjectConfig,
    provider: Provider,
    state: OAuthState,
    code: str,
) -> tuple[ClientCredentials, TokenSet]:
    """Trade the code for tokens with the project's client (`config` as just read from the store).

    `invalid_client` from the provider may mean this container's cached secrets are behind (the
    client secret or the development keys changed elsewhere): read them again, uncached, and retry
    once if that gives another client. (The settings are not read again: the code was issued to
    the client id the consent page named, so only a new secret for it could redeem the code.)
    """

    def exchange(client: ClientCredentials) -> TokenSet:
        return exchange_code(
            provider,
            ports.settings.wpcom_origin,
            client,
            code,
            ports.settings.oauth_redirect_uri,
            state.code_verifier,
            ports.settings.provider_timeout_seconds,
        )

    client = resolve_client(ports, config, provider)
    try:
        return client, exchange(client)
    except OAuthProviderError as error:
        if error.code != "oauth_invalid_client":
            raise
        fresh = resolve_client(ports, config, provider, fresh=True)
        if fresh == client:
            raise
        return fresh, exchange(fresh)


def store_credential(
    ports: ConnectPorts,
    state: OAuthState,
    provider: Provider,
    client: ClientCredentials,
    tokens: TokenSet,
    account: dict[str, Any],
) -> Credential:
    """Create the credential, or update the user's existing one for the same provider account.

    Without `allowMultipleCredentials`, a different account replaces the user's earlier ones.
    Concurrent callbacks of one user end as some serial order of them would:

    - One credential per provider account: its id is derived from (project, user, integration,
      account), so two callbacks for one account write the same item; whichever writes last
      leaves its token, and both sessions report the same, existing credential.
    - An account the user already holds is updated only while that credential still exists
      (`must_exist`); if a concurrent replace deleted it first, this callback connects it anew.
    - A new account that replaces the others claims the integration's current marker, writes
      its credential only while the marker names it, then deletes the other credentials, each
      delete only while the marker still names it. Of two such callbacks A and B the one that
      claimed last (say B) is the last writer: if A claimed before B but writes after B's
      claim, A's write is refused (`Superseded`, reported on A's session and popup) and B
      removes anything A stored earlier; if A wrote before B's claim, B's sweep deletes A's
      credential and A's sweep stops at the first delete B's claim refuses. Either way exactly
      B's credential remains, and A's session never reports it as connected while it is gone
      (`read_session` reports a deleted credential as a failure).
    - With `allowMultipleCredentials` the credential is added next to the others.
    - The development-keys seat (and its cap) is taken or given back in the same transaction
      as the credential's write or delete, so a failed write holds no seat and a concurrent
      disconnect cannot release a seat a new credential needs.
    """
    account_id = str(account[provider.account_id_field])
    existing = [
        c
        for c in ports.credentials.list_for_user(state.project_id, state.user_id)
        if c.integration_type == provider.type
    ]
    # A credential stored before ids were derived from the account keeps its id.
    same = next((c for c in existing if c.provider_account_id == account_id), None)
    now = utc_now_iso()
    provider_data = {name: account.get(name) for name in provider.account_data_fields if name in account}
    provider_data.update({name: value for name, value in tokens.extra.items()})
    credential = Credential(
        project_id=state.project_id,
        user_id=state.user_id,
        id=same.id if same else account_credential_id(state.project_id, state.user_id, provider.type, account_id),
        integration_type=provider.type,
        status=CREDENTIAL_VALID,
        provider_account_id=account_id,
        provider_data=provider_data,
        scopes=provider.split_scopes(tokens.scope),
        uses_dev_keys=client.uses_dev_keys,
        created_at=same.created_at if same else now,
        updated_at=now,
    )
    cap = ports.settings.dev_keys_max_users if client.uses_dev_keys else None
    secret = tokens.secret_part()
    if same is not None:
        try:
            ports.credentials.save(credential, secret, dev_keys_cap=cap, must_exist=True)
            return credential
        except NotFound:
            pass  # removed meanwhile (by a replacing connect or a disconnect): connect it anew
    if state.allow_multiple:
        ports.credentials.save(credential, secret, dev_keys_cap=cap)
        return credential
    ports.credentials.claim_current(state.project_id, state.user_id, provider.type, credential.id)
    ports.credentials.save(credential, secret, dev_keys_cap=cap, while_current=True)
    for other in ports.credentials.list_for_user(state.project_id, state.user_id):
        if other.integration_type != provider.type or other.id == credential.id:
            continue
        try:
            if not ports.credentials.delete_while_current(other, credential.id):
                break  # a later connect claimed the integration; it removes the rest
        except NotFound:
            continue
    return credential


def account_credential_id(project_id: str, user_id: str, integration_type: str, account_id: str) -> str:
    """The id of a user's credential for one provider account (the same for every connect of it)."""
    name = json.dumps([project_id, user_id, integration_type, account_id])
    return str(uuid.uuid5(_CREDENTIAL_NAMESPACE, name))


def session_view(session: ConnectSession) -> dict[str, Any]:
    """What `GET .../session-id/{id}` answers. A failed session names a pseudo credential id whose
    lookup answers the error, which is how the SDK's poller learns of it and stops."""
    body: dict[str, Any] = {"id": session.id, "status": session.status}
    if session.status == SESSION_COMPLETE and session.credential_id:
        body["connectCredentialId"] = session.credential_id
    elif session.status == SESSION_FAILED:
        body["connectCredentialId"] = FAILED_CREDENTIAL_PREFIX + session.id
        body["error"] = {"code": session.error_code, "message": session.error_message}
    return body


def read_session(ports: ConnectPorts, user: VerifiedUser, session_id: str) -> dict[str, Any]:
    """`GET .../session-id/{id}`: the user's session as `session_view` shapes it; NotFound once it
    expired (by the ports' clock, whether or not DynamoDB's TTL has removed it yet).

    A session that completed with a credential since deleted (replaced by a concurrent or later
    connect, or disconnected) is turned into a failed one, so the SDK never resolves
    `installIntegration` with a credential that no longer exists."""
    session = ports.sessions.get(user.project_id, user.user_id, session_id, int(ports.clock()))
    if session.status == SESSION_COMPLETE and session.credential_id:
        try:
            ports.credentials.get(user.project_id, user.user_id, session.credential_id)
        except NotFound:
            gone = NotFound(
                "The account connected here was disconnected or replaced by a later connection.",
                code="credential_removed",
            )
            ports.sessions.fail(
                user.project_id, user.user_id, session_id, gone.code, gone.message, reported=session.credential_id
            )
            session = replace(
                session, status=SESSION_FAILED, credential_id=None, error_code=gone.code, error_message=gone.message
            )
    return session_view(session)


def failed_session_error(ports: ConnectPorts, user: VerifiedUser, pseudo_id: str) -> TetherError:
    """The error to answer for a failed session's pseudo credential id."""
    session_id = pseudo_id[len(FAILED_CREDENTIAL_PREFIX) :]
    session = ports.sessions.get(user.project_id, user.user_id, session_id, int(ports.clock()))
    if session.status != SESSION_FAILED:
        return NotFound("No such credential.", code="credential_not_found")
    return ConnectFailed(session.error_message or "The connection failed.", code=session.error_code or None)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
