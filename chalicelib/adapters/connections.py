"""DynamoDB repositories of the connect flow: credentials (encrypted tokens), connect sessions,
pending OAuth states and the development-keys user cap.

Credential writes and deletes are DynamoDB transactions that carry their guards with them, so
concurrent connects and disconnects of one user cannot interleave into a state no serial order
produces:

- *Current marker* (`keys.current_credential`): a connect that replaces the user's other
  credentials of an integration first names its credential there (`claim_current`, last
  writer wins), then writes the credential only while the marker still names it, then deletes
  the others, each delete again only while the marker names it. Whoever claimed last is the
  only one whose write and deletes go through; an earlier claimer's write fails
  (`Superseded`) or its sweep stops.
- *Seats* (`keys.dev_key_seat` per user, `keys.dev_key_users` per project): the project's set
  of users holding a development-keys seat changes only in the transaction that writes or
  deletes one of the user's dev-key credentials, and the user's seat item lists exactly those
  credential ids. Taking a seat checks the cap inside that transaction; a user leaves the set
  only in the transaction that removes their last dev-key credential (a condition on the seat
  item's content, re-read and retried if another write changed it). A failed write takes
  nothing, and concurrent connects and disconnects never leave a seat held by nobody or a
  credential without its seat.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.adapters.dynamo import Table, is_condition_failure, storage_error
from chalicelib.adapters.encryption import Encryptor
from chalicelib.adapters.repositories import (
    EXISTING_ITEM,
    NEW_ITEM,
    SEALED_ATTRIBUTE,
    SEALED_PROJECT_ATTRIBUTE,
    SEALED_RECORD_ATTRIBUTE,
)
from chalicelib.domain.errors import Conflict, Forbidden, NotFound
from chalicelib.domain.models import (
    SESSION_COMPLETE,
    SESSION_FAILED,
    ConnectSession,
    Credential,
    OAuthState,
)

# Attempts of a transaction that conflicts with another on the same items, and of a seat
# change whose seat another write changed between read and write.
TRANSACTION_ATTEMPTS = 4
SEAT_ATTEMPTS = 8
USERS_ATTRIBUTE = "users"
SEAT_ATTRIBUTE = "credentials"


@dataclass(frozen=True)
class SealedCredential:
    """A credential together with its still-encrypted token set."""

    credential: Credential
    sealed: dict[str, Any] = field(repr=False)


class CredentialRepository:
    """An end user's credentials; the access token is sealed (AES-GCM) inside the item."""

    def __init__(self, table: Table, encryptor: Encryptor, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._encryptor = encryptor
        self._sleep = sleep

    def save(
        self,
        credential: Credential,
        tokens: dict[str, Any],
        *,
        dev_keys_cap: int | None = None,
        must_exist: bool = False,
        while_current: bool = False,
    ) -> None:
        """Create or update a credential with its (encrypted) token set, in one transaction with
        the user's development-keys seat.

        A credential that uses the development keys takes (or keeps) the user's seat; past
        `dev_keys_cap` users that is `Forbidden` and nothing is written. One that does not gives
        the seat back if it was the user's last dev-key credential. `must_exist` writes only
        over a credential that is still stored (else NotFound); `while_current` only while the
        integration's current marker names this credential (else `Superseded`). The creation
        time of an earlier version is kept.
        """
        if credential.uses_dev_keys and dev_keys_cap is None:
            raise ValueError("a development-keys credential needs the seat cap")
        sealed = self._encryptor.seal(json.dumps(tokens), project_id=credential.project_id, record_id=credential.id)
        attributes = {
            **_credential_attributes(credential),
            SEALED_ATTRIBUTE: sealed,
            SEALED_PROJECT_ATTRIBUTE: credential.project_id,
            SEALED_RECORD_ATTRIBUTE: credential.id,
        }
        created_at = attributes.pop("createdAt")
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":a{i}": value for i, value in enumerate(attributes.values())}
        assignments = [f"#a{i} = :a{i}" for i in range(len(attributes))]
        condition: dict[str, Any] = {"ConditionExpression": "attribute_exists(#pk)"} if must_exist else {}
        names.update({"#created": "createdAt", **({"#pk": keys.PK} if must_exist else {})})
        write = _op(
            "Update",
            self._table.name,
            keys.credential(credential.project_id, credential.user_id, credential.id),
            UpdateExpression="SET " + ", ".join([*assignments, "#created = if_not_exists(#created, :created)"]),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":created": created_at},
            **condition,
        )
        ops = [("credential", write)]
        if while_current:
            ops.append(
                self._current_guard(
                    credential.project_id, credential.user_id, credential.integration_type, credential.id
                )
            )
        try:
            if credential.uses_dev_keys:
                assert dev_keys_cap is not None
                seat = _take_seat(
                    self._table.name, credential.project_id, credential.user_id, credential.id, dev_keys_cap
                )
                self._transact([*ops, *seat])
            else:
                self._with_seat_dropped(credential.project_id, credential.user_id, credential.id, ops)
        except _Cancelled as cancelled:
            if "cap" in cancelled.failed:
                raise Forbidden(dev_keys_cap_message(dev_keys_cap or 0), code="dev_keys_user_cap") from None
            raise cancelled.as_error() from None

    def claim_current(self, project_id: str, user_id: str, integration_type: str, credential_id: str) -> None:
        """Name `credential_id` as the one the user's latest replacing connect of the integration writes."""
        try:
            self._table.put_item(
                Item={
                    **keys.current_credential(project_id, user_id, integration_type).as_item(),
                    "credentialId": credential_id,
                }
            )
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
                ConditionExpression=f"{EXISTING_ITEM} AND #sealed = :sealed",
                ExpressionAttributeNames={"#s": "status", "#sealed": SEALED_ATTRIBUTE},
                ExpressionAttributeValues={":s": status, ":t": now, ":sealed": stored.sealed},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise storage_error(exc) from None
        return True

    def delete(self, project_id: str, user_id: str, credential_id: str) -> Credential:
        """Delete a credential and its encrypted token (NotFound if the user has no such
        credential), giving back the development-keys seat if it held the user's last one."""
        credential = self.get(project_id, user_id, credential_id)
        try:
            self._with_seat_dropped(project_id, user_id, credential_id, [("credential", self._delete_op(credential))])
        except _Cancelled as cancelled:
            raise cancelled.as_error() from None
        return credential

    def delete_while_current(self, credential: Credential, current_id: str) -> bool:
        """Delete `credential` only while the integration's current marker names `current_id`.

        False when a later connect has claimed the marker (that connect removes what remains);
        NotFound when the credential is already gone."""
        guard = self._current_guard(credential.project_id, credential.user_id, credential.integration_type, current_id)
        ops = [("credential", self._delete_op(credential)), guard]
        try:
            self._with_seat_dropped(credential.project_id, credential.user_id, credential.id, ops)
        except _Cancelled as cancelled:
            if "current" in cancelled.failed:
                return False
            raise cancelled.as_error() from None
        return True

    def _delete_op(self, credential: Credential) -> dict[str, Any]:
        return _op(
            "Delete",
            self._table.name,
            keys.credential(credential.project_id, credential.user_id, credential.id),
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": keys.PK},
        )

    def _current_guard(
        self, project_id: str, user_id: str, integration_type: str, credential_id: str
    ) -> tuple[str, dict[str, Any]]:
        """A condition that the integration's current marker names `credential_id`."""
        return (
            "current",
            _op(
                "ConditionCheck",
                self._table.name,
                keys.current_credential(project_id, user_id, integration_type),
                ConditionExpression="credentialId = :me",
                ExpressionAttributeValues={":me": credential_id},
            ),
        )

    def _with_seat_dropped(
        self, project_id: str, user_id: str, credential_id: str, ops: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Run `ops` together with taking `credential_id` off the user's seat (and the user out
        of the project's set when it was their last). The transaction is conditioned on the seat
        as read just before, so a concurrent change of the seat makes it read and try again."""
        for _ in range(SEAT_ATTEMPTS):
            held = self._seat(project_id, user_id)
            try:
                self._transact([*ops, *_drop_seat(self._table.name, project_id, user_id, credential_id, held)])
                return
            except _Cancelled as cancelled:
                if cancelled.failed != {"seat"}:
                    raise
        raise _Cancelled({"seat"})

    def _seat(self, project_id: str, user_id: str) -> frozenset[str]:
        try:
            key = keys.dev_key_seat(project_id, user_id).as_item()
            item: dict[str, Any] = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        except ClientError as exc:
            raise storage_error(exc) from None
        return frozenset(str(c) for c in item.get(SEAT_ATTRIBUTE, set()))

    def _transact(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        """Run labelled operations as one transaction; `_Cancelled` names the labels whose
        condition failed. Conflicts with another transaction on the same items are retried."""
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                self._table.transact_write_items(TransactItems=[op for _, op in ops])
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise storage_error(exc) from None
                reasons = cast(list[dict[str, Any]], exc.response.get("CancellationReasons") or [])
                codes = [str(reason.get("Code")) for reason in reasons]
                failed = {
                    label for (label, _), code in zip(ops, codes, strict=False) if code == "ConditionalCheckFailed"
                }
                if failed:
                    raise _Cancelled(failed) from None
                if "TransactionConflict" not in codes or attempt == TRANSACTION_ATTEMPTS:
                    raise storage_error(exc) from None
            self._sleep(random.uniform(0, 0.05 * attempt))

    def _items(self, project_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's credential items (one Query; a user holds a handful, never a second page).

        Strongly consistent, so a call right after connecting sees the new credential."""
        try:
            page = self._table.query(
                KeyConditionExpression=f"{keys.PK} = :pk AND begins_with({keys.SK}, :prefix)",
                ExpressionAttributeValues={
                    ":pk": keys.user_partition(project_id, user_id),
                    ":prefix": keys.CREDENTIAL_PREFIX,
                },
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc) from None
        return list(page.get("Items", []))

    def _get_item(self, project_id: str, user_id: str, credential_id: str) -> dict[str, Any]:
        try:
            item: dict[str, Any] | None = self._table.get_item(
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
        """Create (or restart) a session; one that could not start is created failed, with its error."""
        item: dict[str, Any] = {
            **keys.connect_session(session.project_id, session.user_id, session.id).as_item(),
            "sessionId": session.id,
            "integrationType": session.integration_type,
            "status": session.status,
            keys.TTL_ATTRIBUTE: session.expires_at,
        }
        if session.error_code is not None:
            item["errorCode"] = session.error_code
        if session.error_message is not None:
            item["errorMessage"] = session.error_message[:500]
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

    def fail(
        self, project_id: str, user_id: str, session_id: str, code: str, message: str, *, reported: str | None = None
    ) -> None:
        """Record why a session failed, so the SDK's polling can end with that message.

        With `reported`, only if the session still reports that credential id."""
        self._update(
            project_id,
            user_id,
            session_id,
            "SET #s = :s, errorCode = :c, errorMessage = :m REMOVE credentialId",
            {":s": SESSION_FAILED, ":c": code, ":m": message[:500]},
            reported,
        )

    def delete(self, project_id: str, user_id: str, session_id: str) -> None:
        """Forget a session (idempotent)."""
        try:
            self._table.delete_item(Key=keys.connect_session(project_id, user_id, session_id).as_item())
        except ClientError as exc:
            raise storage_error(exc) from None

    def _update(
        self,
        project_id: str,
        user_id: str,
        session_id: str,
        expression: str,
        values: dict[str, Any],
        reported: str | None = None,
    ) -> None:
        condition = EXISTING_ITEM
        if reported is not None:
            condition += " AND credentialId = :reported"
            values = {**values, ":reported": reported}
        try:
            self._table.update_item(
                Key=keys.connect_session(project_id, user_id, session_id).as_item(),
                UpdateExpression=expression,
                ConditionExpression=condition,
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
            self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
        except ClientError as exc:
            raise storage_error(exc) from None

    def consume(self, project_id: str, state_hash: str) -> OAuthState | None:
        """Atomically delete and return the state; None if unknown or already used."""
        try:
            result = self._table.delete_item(
                Key=keys.oauth_state(project_id, state_hash).as_item(),
                ConditionExpression=EXISTING_ITEM,
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
    """The set of end users a project connected through the deployment's development keys.

    It changes only inside `CredentialRepository`'s transactions (see the module docstring)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def would_admit(self, project_id: str, user_id: str, cap: int) -> bool:
        """True if a dev-key credential of the user would be admitted now (an early, friendly
        refusal; the binding check is the one inside the credential's write)."""
        users = self.users(project_id)
        return user_id in users or len(users) < cap

    def users(self, project_id: str) -> set[str]:
        """The users holding a seat."""
        try:
            item: dict[str, Any] | None = self._table.get_item(
                Key=keys.dev_key_users(project_id).as_item(), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        return {str(u) for u in (item or {}).get(USERS_ATTRIBUTE, set())}


def dev_keys_cap_message(cap: int) -> str:
    """Why a connect through the development keys was refused."""
    return (
        f"This project uses Tether's development keys, which allow {cap} connected users. "
        "Configure your own client id and secret to connect more."
    )


class Superseded(Conflict):
    """A later connect of the same user and integration replaced this one before it was stored."""

    code = "connect_superseded"


class _Cancelled(Exception):
    """A transaction was cancelled because the conditions of the labelled operations failed."""

    def __init__(self, failed: set[str]) -> None:
        super().__init__(", ".join(sorted(failed)))
        self.failed = failed

    def as_error(self) -> Exception:
        if "credential" in self.failed:
            return NotFound("No such credential.", code="credential_not_found")
        if "current" in self.failed:
            return Superseded("A later connection of this integration replaced this one; it was not stored.")
        return Conflict("The credential changed repeatedly while being saved; try again.", code="concurrent_update")


def _op(kind: str, table_name: str, key: keys.Key, **fields: Any) -> dict[str, Any]:
    """One TransactWriteItems entry, with plain Python values (`Table` converts them)."""
    return {kind: {"TableName": table_name, "Key": key.as_item(), **fields}}


def _take_seat(
    table_name: str, project_id: str, user_id: str, credential_id: str, cap: int
) -> list[tuple[str, dict[str, Any]]]:
    """Operations that list the credential on the user's seat and the user in the project's set,
    refused ("cap") when the user is new to a set already holding `cap` users."""
    return [
        (
            "cap",
            _op(
                "Update",
                table_name,
                keys.dev_key_users(project_id),
                UpdateExpression="ADD #u :u",
                ConditionExpression="attribute_not_exists(#u) OR contains(#u, :id) OR size(#u) < :cap",
                ExpressionAttributeNames={"#u": USERS_ATTRIBUTE},
                ExpressionAttributeValues={":u": {user_id}, ":id": user_id, ":cap": cap},
            ),
        ),
        (
            "seat",
            _op(
                "Update",
                table_name,
                keys.dev_key_seat(project_id, user_id),
                UpdateExpression="ADD #c :c",
                ExpressionAttributeNames={"#c": SEAT_ATTRIBUTE},
                ExpressionAttributeValues={":c": {credential_id}},
            ),
        ),
    ]


def _drop_seat(
    table_name: str, project_id: str, user_id: str, credential_id: str, held: frozenset[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Operations that take the credential off the user's seat, given what the seat held when
    read; each is conditioned on that, so a seat changed since fails ("seat") and is re-read."""
    seat = keys.dev_key_seat(project_id, user_id)
    names = {"#c": SEAT_ATTRIBUTE}
    if credential_id not in held:
        check = _op(
            "ConditionCheck",
            table_name,
            seat,
            ConditionExpression="NOT contains(#c, :id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":id": credential_id},
        )
        return [("seat", check)]
    last = held == {credential_id}
    drop = _op(
        "Update",
        table_name,
        seat,
        UpdateExpression="DELETE #c :c",
        ConditionExpression=f"contains(#c, :id) AND size(#c) {'=' if last else '>'} :one",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":c": {credential_id}, ":id": credential_id, ":one": 1},
    )
    if not last:
        return [("seat", drop)]
    release = _op(
        "Update",
        table_name,
        keys.dev_key_users(project_id),
        UpdateExpression="DELETE #u :u",
        ExpressionAttributeNames={"#u": USERS_ATTRIBUTE},
        ExpressionAttributeValues={":u": {user_id}},
    )
    return [("seat", drop), ("release", release)]


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
