"""DynamoDB repositories of the connect flow: credentials (encrypted tokens), connect sessions,
pending OAuth states and the development-keys user cap."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr
from boto3.dynamodb.conditions import Key as KeyCondition
from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.adapters.dynamo import is_condition_failure, storage_error
from chalicelib.adapters.encryption import Encryptor
from chalicelib.adapters.repositories import SEALED_ATTRIBUTE, SEALED_PROJECT_ATTRIBUTE, SEALED_RECORD_ATTRIBUTE
from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.models import (
    SESSION_COMPLETE,
    SESSION_FAILED,
    ConnectSession,
    Credential,
    OAuthState,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class SealedCredential:
    """A credential together with its still-encrypted token set."""

    credential: Credential
    sealed: dict[str, Any] = field(repr=False)


class CredentialRepository:
    """An end user's credentials; the access token is sealed (AES-GCM) inside the item."""

    def __init__(self, table: Table, encryptor: Encryptor) -> None:
        self._table = table
        self._encryptor = encryptor

    def save(self, credential: Credential, tokens: dict[str, Any]) -> None:
        """Create or replace a credential together with its (encrypted) token set."""
        sealed = self._encryptor.seal(json.dumps(tokens), project_id=credential.project_id, record_id=credential.id)
        item = {
            **keys.credential(credential.project_id, credential.user_id, credential.id).as_item(),
            **_credential_attributes(credential),
            SEALED_ATTRIBUTE: sealed,
            SEALED_PROJECT_ATTRIBUTE: credential.project_id,
            SEALED_RECORD_ATTRIBUTE: credential.id,
        }
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def list_for_user(self, project_id: str, user_id: str) -> list[Credential]:
        """All of the user's credentials, oldest first."""
        credentials = [_credential(project_id, user_id, item) for item in self._items(project_id, user_id)]
        return sorted(credentials, key=lambda c: (c.created_at, c.id))

    def get(self, project_id: str, user_id: str, credential_id: str) -> Credential:
        """One of the user's credentials, or NotFound (also for another user's credential id)."""
        item = self._get_item(project_id, user_id, credential_id)
        return _credential(project_id, user_id, item)

    def candidates(
        self, project_id: str, user_id: str, integration_type: str | None, credential_id: str | None
    ) -> list[SealedCredential]:
        """The user's credentials (of one integration, if given) with their sealed tokens, in one read.

        With `credential_id`, just that credential (NotFound if it is not the user's or belongs
        to another integration).
        """
        if credential_id is not None:
            item = self._get_item(project_id, user_id, credential_id)
            if integration_type not in (None, item.get("integrationType")):
                raise NotFound("No such credential.", code="credential_not_found")
            items = [item]
        else:
            items = [
                i for i in self._items(project_id, user_id) if integration_type in (None, i.get("integrationType"))
            ]
        found = [SealedCredential(_credential(project_id, user_id, i), i[SEALED_ATTRIBUTE]) for i in items]
        return sorted(found, key=lambda f: (f.credential.created_at, f.credential.id))

    def open_tokens(self, sealed: SealedCredential) -> dict[str, Any]:
        """Decrypt the token set of a credential read by `candidates`."""
        credential = sealed.credential
        plaintext = self._encryptor.open(sealed.sealed, project_id=credential.project_id, record_id=credential.id)
        tokens: dict[str, Any] = json.loads(plaintext)
        return tokens

    def set_status(self, stored: SealedCredential, status: str, now: str) -> bool:
        """Mark a credential VALID or INVALID, only if it still holds the token that was judged.

        The write is conditioned on the sealed token read with `stored` (each sealing has a fresh
        nonce), so a verdict on an older token never lands on a credential reconnected, refreshed
        or re-encrypted meanwhile. False (and nothing written) when the token changed or the
        credential was deleted.
        """
        credential = stored.credential
        try:
            self._table.update_item(
                Key=keys.credential(credential.project_id, credential.user_id, credential.id).as_item(),
                UpdateExpression="SET #s = :s, updatedAt = :t",
                ConditionExpression=Attr(keys.PK).exists() & Attr(SEALED_ATTRIBUTE).eq(stored.sealed),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": status, ":t": now},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise storage_error(exc) from None
        return True

    def delete(self, project_id: str, user_id: str, credential_id: str) -> Credential:
        """Delete a credential and its encrypted token; NotFound if the user has no such credential."""
        try:
            result = self._table.delete_item(
                Key=keys.credential(project_id, user_id, credential_id).as_item(),
                ConditionExpression=Attr(keys.PK).exists(),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("No such credential.", code="credential_not_found") from None
            raise storage_error(exc) from None
        return _credential(project_id, user_id, result["Attributes"])

    def _items(self, project_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's credential items (one Query; a user holds a handful, never a second page).

        Strongly consistent, so a call right after connecting sees the new credential."""
        try:
            page = self._table.query(
                KeyConditionExpression=KeyCondition(keys.PK).eq(keys.user_partition(project_id, user_id))
                & KeyCondition(keys.SK).begins_with(keys.CREDENTIAL_PREFIX),
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc) from None
        return list(page.get("Items", []))

    def _get_item(self, project_id: str, user_id: str, credential_id: str) -> dict[str, Any]:
        try:
            item = self._table.get_item(
                Key=keys.credential(project_id, user_id, credential_id).as_item(), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        if item is None:
            raise NotFound("No such credential.", code="credential_not_found")
        return item


class ConnectSessionRepository:
    """Connect sessions, stored in their end user's partition with a TTL."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, session: ConnectSession) -> None:
        """Create (or restart) a session."""
        item: dict[str, Any] = {
            **keys.connect_session(session.project_id, session.user_id, session.id).as_item(),
            "sessionId": session.id,
            "integrationType": session.integration_type,
            "status": session.status,
            keys.TTL_ATTRIBUTE: session.expires_at,
        }
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def get(self, project_id: str, user_id: str, session_id: str, now: int) -> ConnectSession:
        """The user's session, or NotFound (also when expired or someone else's)."""
        try:
            item: dict[str, Any] | None = self._table.get_item(
                Key=keys.connect_session(project_id, user_id, session_id).as_item(), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        if item is None or int(item[keys.TTL_ATTRIBUTE]) <= now:
            raise NotFound("No such connect session.", code="session_not_found")
        return ConnectSession(
            project_id=project_id,
            user_id=user_id,
            id=session_id,
            integration_type=str(item["integrationType"]),
            status=str(item["status"]),
            credential_id=_optional(item.get("credentialId")),
            error_code=_optional(item.get("errorCode")),
            error_message=_optional(item.get("errorMessage")),
            expires_at=int(item[keys.TTL_ATTRIBUTE]),
        )

    def complete(self, project_id: str, user_id: str, session_id: str, credential_id: str) -> None:
        """Record the credential a session produced (if the session still exists)."""
        self._update(
            project_id,
            user_id,
            session_id,
            "SET #s = :s, credentialId = :c",
            {":s": SESSION_COMPLETE, ":c": credential_id},
        )

    def fail(self, project_id: str, user_id: str, session_id: str, code: str, message: str) -> None:
        """Record why a session failed, so the SDK's polling can end with that message."""
        self._update(
            project_id,
            user_id,
            session_id,
            "SET #s = :s, errorCode = :c, errorMessage = :m",
            {":s": SESSION_FAILED, ":c": code, ":m": message[:500]},
        )

    def delete(self, project_id: str, user_id: str, session_id: str) -> None:
        """Forget a session (idempotent)."""
        try:
            self._table.delete_item(Key=keys.connect_session(project_id, user_id, session_id).as_item())
        except ClientError as exc:
            raise storage_error(exc) from None

    def _update(self, project_id: str, user_id: str, session_id: str, expression: str, values: dict[str, Any]) -> None:
        try:
            self._table.update_item(
                Key=keys.connect_session(project_id, user_id, session_id).as_item(),
                UpdateExpression=expression,
                ConditionExpression=Attr(keys.PK).exists(),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise storage_error(exc) from None


class OAuthStateRepository:
    """Pending OAuth states, stored under the state's hash and consumed exactly once."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, state_hash: str, state: OAuthState) -> None:
        """Remember what a state stands for until it is consumed or expires."""
        item: dict[str, Any] = {
            **keys.oauth_state(state.project_id, state_hash).as_item(),
            "userId": state.user_id,
            "sessionId": state.session_id,
            "integrationType": state.integration_type,
            "allowMultiple": state.allow_multiple,
            keys.TTL_ATTRIBUTE: state.expires_at,
        }
        if state.code_verifier is not None:
            item["codeVerifier"] = state.code_verifier
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(keys.PK).not_exists())
        except ClientError as exc:
            raise storage_error(exc) from None

    def consume(self, project_id: str, state_hash: str) -> OAuthState | None:
        """Atomically delete and return the state; None if unknown or already used."""
        try:
            result = self._table.delete_item(
                Key=keys.oauth_state(project_id, state_hash).as_item(),
                ConditionExpression=Attr(keys.PK).exists(),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise storage_error(exc) from None
        return _oauth_state(project_id, result["Attributes"])

    def peek(self, project_id: str, state_hash: str) -> OAuthState | None:
        """The state without consuming it (to check who may consume it); None if unknown."""
        try:
            result = self._table.get_item(Key=keys.oauth_state(project_id, state_hash).as_item(), ConsistentRead=True)
        except ClientError as exc:
            raise storage_error(exc) from None
        item = result.get("Item")
        return _oauth_state(project_id, item) if item is not None else None


def _oauth_state(project_id: str, item: dict[str, Any]) -> OAuthState:
    return OAuthState(
        project_id=project_id,
        user_id=str(item["userId"]),
        session_id=str(item["sessionId"]),
        integration_type=str(item["integrationType"]),
        allow_multiple=bool(item.get("allowMultiple")),
        code_verifier=_optional(item.get("codeVerifier")),
        expires_at=int(item[keys.TTL_ATTRIBUTE]),
    )


class DevKeyUsage:
    """The set of end users a project connected through the deployment's development keys."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def admit(self, project_id: str, user_id: str, cap: int) -> None:
        """Add the user to the set unless that would exceed `cap` (a user already in it passes)."""
        try:
            self._table.update_item(
                Key=keys.dev_key_users(project_id).as_item(),
                UpdateExpression="ADD #u :u",
                ConditionExpression="attribute_not_exists(#u) OR contains(#u, :id) OR size(#u) < :cap",
                ExpressionAttributeNames={"#u": "users"},
                ExpressionAttributeValues={":u": {user_id}, ":id": user_id, ":cap": cap},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise Forbidden(
                    f"This project uses Tether's development keys, which allow {cap} connected users. "
                    "Configure your own WordPress.com client id and secret to connect more.",
                    code="dev_keys_user_cap",
                ) from None
            raise storage_error(exc) from None

    def would_admit(self, project_id: str, user_id: str, cap: int) -> bool:
        """True if `admit` would pass now (for an early, friendly refusal)."""
        users = self._users(project_id)
        return user_id in users or len(users) < cap

    def release(self, project_id: str, user_id: str) -> None:
        """Remove the user from the set (when they have no dev-key credential left)."""
        try:
            self._table.update_item(
                Key=keys.dev_key_users(project_id).as_item(),
                UpdateExpression="DELETE #u :u",
                ExpressionAttributeNames={"#u": "users"},
                ExpressionAttributeValues={":u": {user_id}},
            )
        except ClientError as exc:
            raise storage_error(exc) from None

    def _users(self, project_id: str) -> set[str]:
        try:
            item: dict[str, Any] | None = self._table.get_item(
                Key=keys.dev_key_users(project_id).as_item(), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        return {str(u) for u in (item or {}).get("users", set())}


def _credential_attributes(credential: Credential) -> dict[str, Any]:
    return {
        "credentialId": credential.id,
        "userId": credential.user_id,
        "integrationType": credential.integration_type,
        "status": credential.status,
        "providerAccountId": credential.provider_account_id,
        "providerDataJson": json.dumps(credential.provider_data, separators=(",", ":")),
        "scopes": list(credential.scopes),
        "usesDevKeys": credential.uses_dev_keys,
        "createdAt": credential.created_at,
        "updatedAt": credential.updated_at,
    }


def _credential(project_id: str, user_id: str, item: dict[str, Any]) -> Credential:
    return Credential(
        project_id=project_id,
        user_id=user_id,
        id=str(item["credentialId"]),
        integration_type=str(item["integrationType"]),
        status=str(item["status"]),
        provider_account_id=str(item["providerAccountId"]),
        provider_data=json.loads(str(item.get("providerDataJson") or "{}")),
        scopes=tuple(str(s) for s in item.get("scopes", [])),
        uses_dev_keys=bool(item.get("usesDevKeys")),
        created_at=str(item["createdAt"]),
        updated_at=str(item["updatedAt"]),
    )


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)
