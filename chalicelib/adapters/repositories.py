"""DynamoDB repositories: the only code that reads or writes table items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.adapters.dynamo import (
    Table,
    decode_cursor,
    encode_cursor,
    is_condition_failure,
    query_all,
    storage_error,
)
from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.models import EndUser, IntegrationSettings, Project, ProjectConfig, SigningKey
from chalicelib.domain.portal import from_stored as portal_from_stored

SEALED_ATTRIBUTE = "sealed"
SEALED_PROJECT_ATTRIBUTE = "projectId"
SEALED_RECORD_ATTRIBUTE = "sealedRecordId"
# Conditions of a write that creates an item, or changes one that must exist.
NEW_ITEM = f"attribute_not_exists({keys.PK})"
EXISTING_ITEM = f"attribute_exists({keys.PK})"


class ProjectRepository:
    """Projects with their signing keys and integration settings."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, project: Project) -> None:
        """Store a new project; refuse to overwrite an existing id."""
        item = {
            **keys.project(project.id).as_item(),
            keys.GSI1PK: keys.ALL_PROJECTS,
            keys.GSI1SK: keys.projects_index_sort(project.created_at, project.id),
            "id": project.id,
            "name": project.name,
            "secretKeyHash": project.secret_key_hash,
            "createdAt": project.created_at,
        }
        try:
            self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise Conflict("A project with this id already exists.", code="project_exists") from None
            raise storage_error(exc) from None

    def list_projects(self) -> list[Project]:
        """All projects, oldest first."""
        projects: list[Project] = []
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": f"{keys.GSI1PK} = :p",
            "ExpressionAttributeValues": {":p": keys.ALL_PROJECTS},
        }
        while True:
            page = self._table.query(**kwargs)
            projects.extend(_project(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return projects
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_config(self, project_id: str) -> ProjectConfig | None:
        """The project with its keys and integration settings (one Query), or None."""
        items = query_all(
            self._table,
            KeyConditionExpression=f"{keys.PK} = :p",
            ExpressionAttributeValues={":p": keys.project_partition(project_id)},
            ConsistentRead=True,
        )
        project: Project | None = None
        signing_keys: list[SigningKey] = []
        integrations: dict[str, IntegrationSettings] = {}
        allowed_origins: tuple[str, ...] = ()
        for item in items:
            sk = str(item[keys.SK])
            if sk == keys.PROJECT_META:
                project = _project(item)
            elif sk.startswith(keys.SIGNING_KEY_PREFIX):
                signing_keys.append(_signing_key(project_id, item))
            elif sk.startswith(keys.INTEGRATION_PREFIX):
                settings = _integration(project_id, item)
                integrations[settings.integration_type] = settings
            elif sk == keys.ALLOWED_ORIGINS:
                allowed_origins = tuple(str(origin) for origin in item.get("origins", []))
        if project is None:
            return None
        signing_keys.sort(key=lambda k: k.created_at)
        return ProjectConfig(project, tuple(signing_keys), integrations, allowed_origins=allowed_origins)

    def set_secret_key_hash(self, project_id: str, secret_key_hash: str, now: str) -> None:
        """Replace the hash of the project's secret key (the old key stops working)."""
        try:
            self._table.update_item(
                Key=keys.project(project_id).as_item(),
                UpdateExpression="SET secretKeyHash = :h, secretKeyRotatedAt = :t",
                ConditionExpression=EXISTING_ITEM,
                ExpressionAttributeValues={":h": secret_key_hash, ":t": now},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("No such project.", code="project_not_found") from None
            raise storage_error(exc) from None

    def set_require_token_audience(self, project_id: str, required: bool, now: str) -> None:
        """Record whether the project's user tokens must carry an `aud` naming it."""
        try:
            self._table.update_item(
                Key=keys.project(project_id).as_item(),
                UpdateExpression="SET requireTokenAudience = :r, tokenPolicyUpdatedAt = :t",
                ConditionExpression=EXISTING_ITEM,
                ExpressionAttributeValues={":r": required, ":t": now},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("No such project.", code="project_not_found") from None
            raise storage_error(exc) from None

    def add_signing_key(self, key: SigningKey) -> None:
        """Register a public key; a key already registered is a conflict."""
        item = {
            **keys.signing_key(key.project_id, key.kid).as_item(),
            "kid": key.kid,
            "publicKeyPem": key.public_key_pem,
            "keyType": key.key_type,
            "createdAt": key.created_at,
        }
        try:
            self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise Conflict("This public key is already registered.", code="signing_key_exists") from None
            raise storage_error(exc) from None

    def delete_signing_key(self, project_id: str, kid: str) -> None:
        """Remove a registered key; an unknown kid is NotFound."""
        try:
            self._table.delete_item(Key=keys.signing_key(project_id, kid).as_item(), ConditionExpression=EXISTING_ITEM)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("No signing key with this kid.", code="signing_key_not_found") from None
            raise storage_error(exc) from None

    def put_allowed_origins(self, project_id: str, origins: tuple[str, ...], now: str) -> None:
        """Replace the project's allowed web origins (an empty tuple allows any origin)."""
        item = {**keys.allowed_origins(project_id).as_item(), "origins": list(origins), "updatedAt": now}
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def put_integration(self, settings: IntegrationSettings) -> None:
        """Create or replace a project's settings for one integration."""
        item = {
            **keys.integration(settings.project_id, settings.integration_type).as_item(),
            "id": settings.id,
            "type": settings.integration_type,
            "clientId": settings.client_id,
            "hasClientSecret": settings.has_client_secret,
            "clientSecretName": settings.client_secret_name,
            "staleClientSecrets": list(settings.stale_client_secrets),
            "scopes": list(settings.scopes),
            "active": settings.active,
            "updatedAt": settings.updated_at,
            "portalJson": json.dumps(settings.portal.to_json()),
        }
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None


class UserRepository:
    """End users of a project (one partition each)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get_or_create(self, project_id: str, user_id: str, now: str, touch_before: str | None = None) -> EndUser:
        """Return the end user, recording them on first sight. With `touch_before`, a `lastSeenAt`
        older than it is set to `now` (once: a concurrent request that touched it first wins)."""
        key = keys.user(project_id, user_id)
        try:
            found = self._table.get_item(Key=key.as_item()).get("Item")
            if found is not None:
                if touch_before is not None and str(found["lastSeenAt"]) < touch_before:
                    return self._touch(project_id, user_id, now, touch_before) or _end_user(project_id, found)
                return _end_user(project_id, found)
            item = {
                **key.as_item(),
                keys.GSI1PK: keys.users_index_partition(project_id),
                keys.GSI1SK: keys.users_index_sort(now, user_id),
                "userId": user_id,
                "metaJson": "{}",
                "createdAt": now,
                "lastSeenAt": now,
            }
            try:
                self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
                # Another request recorded the same user first; theirs stands.
                raced = self._table.get_item(Key=key.as_item(), ConsistentRead=True)["Item"]
                return _end_user(project_id, raced)
            return _end_user(project_id, item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def _touch(self, project_id: str, user_id: str, now: str, before: str) -> EndUser | None:
        try:
            result = self._table.update_item(
                Key=keys.user(project_id, user_id).as_item(),
                UpdateExpression="SET lastSeenAt = :now",
                ConditionExpression=f"{EXISTING_ITEM} AND lastSeenAt < :before",
                ExpressionAttributeValues={":now": now, ":before": before},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return _end_user(project_id, result["Attributes"])

    def find(self, project_id: str, user_id: str) -> EndUser | None:
        """The end user, or None if they were never seen."""
        try:
            item = self._table.get_item(Key=keys.user(project_id, user_id).as_item()).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        return None if item is None else _end_user(project_id, item)

    def update_meta(self, project_id: str, user_id: str, meta: dict[str, Any], now: str) -> EndUser:
        """Replace the end user's metadata; the user must exist."""
        try:
            result = self._table.update_item(
                Key=keys.user(project_id, user_id).as_item(),
                UpdateExpression="SET metaJson = :m, lastSeenAt = :t",
                ConditionExpression=EXISTING_ITEM,
                ExpressionAttributeValues={":m": json.dumps(meta, separators=(",", ":")), ":t": now},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("Unknown user.", code="user_not_found") from None
            raise storage_error(exc) from None
        return _end_user(project_id, result["Attributes"])

    def shared_settings(self, project_id: str, user_id: str) -> dict[str, dict[str, Any]]:
        """The user's portal settings values (`sharedSettings`) per integration type."""
        items = query_all(
            self._table,
            KeyConditionExpression=f"{keys.PK} = :p AND begins_with({keys.SK}, :prefix)",
            ExpressionAttributeValues={
                ":p": keys.user_partition(project_id, user_id),
                ":prefix": keys.USER_SETTINGS_PREFIX,
            },
            ConsistentRead=True,
        )
        return {str(item["type"]): json.loads(str(item.get("valuesJson") or "{}")) for item in items}

    def put_shared_settings(
        self, project_id: str, user_id: str, integration_type: str, values: dict[str, Any], now: str
    ) -> None:
        """Replace the user's portal settings values for one integration."""
        item = {
            **keys.user_settings(project_id, user_id, integration_type).as_item(),
            "type": integration_type,
            "valuesJson": json.dumps(values),
            "updatedAt": now,
        }
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def list_users(self, project_id: str, limit: int, cursor: str | None) -> tuple[list[EndUser], str | None]:
        """One page of the project's end users, newest first, and the next page's cursor."""
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": f"{keys.GSI1PK} = :p",
            "ExpressionAttributeValues": {":p": keys.users_index_partition(project_id)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor, {keys.PK, keys.SK, keys.GSI1PK, keys.GSI1SK})
        if start is not None:
            if start[keys.GSI1PK] != keys.users_index_partition(project_id):
                raise BadRequest("The page cursor belongs to another listing.", code="invalid_cursor")
            kwargs["ExclusiveStartKey"] = start
        try:
            page = self._table.query(**kwargs)
        except ClientError as exc:
            raise storage_error(exc) from None
        users = [_end_user(project_id, item) for item in page.get("Items", [])]
        return users, encode_cursor(page.get("LastEvaluatedKey"))


class SealedItems:
    """Finds and rewrites items that carry a sealed (encrypted) value, whatever their type.

    Every repository that stores an encrypted value writes it as the `sealed` attribute with
    `projectId` and `sealedRecordId` beside it, which is the encryption context.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every item that holds a sealed value."""
        kwargs: dict[str, Any] = {
            "FilterExpression": "attribute_exists(#s)",
            "ExpressionAttributeNames": {"#s": SEALED_ATTRIBUTE},
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._table.scan(**kwargs)
            except ClientError as exc:
                raise storage_error(exc) from None
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def replace_sealed(self, item: dict[str, Any], new_sealed: dict[str, Any]) -> bool:
        """Swap the item's sealed value if it is unchanged since read; False if it changed or vanished."""
        try:
            self._table.update_item(
                Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]},
                UpdateExpression="SET #s = :new",
                ConditionExpression="#s = :old",
                ExpressionAttributeNames={"#s": SEALED_ATTRIBUTE},
                ExpressionAttributeValues={":old": item[SEALED_ATTRIBUTE], ":new": new_sealed},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise storage_error(exc) from None
        return True


def _project(item: dict[str, Any]) -> Project:
    return Project(
        id=str(item["id"]),
        name=str(item["name"]),
        secret_key_hash=str(item["secretKeyHash"]),
        created_at=str(item["createdAt"]),
        require_token_audience=bool(item.get("requireTokenAudience", False)),
    )


def _signing_key(project_id: str, item: dict[str, Any]) -> SigningKey:
    return SigningKey(
        project_id=project_id,
        kid=str(item["kid"]),
        public_key_pem=str(item["publicKeyPem"]),
        key_type=str(item["keyType"]),
        created_at=str(item["createdAt"]),
    )


def _integration(project_id: str, item: dict[str, Any]) -> IntegrationSettings:
    client_id = item.get("clientId")
    return IntegrationSettings(
        project_id=project_id,
        integration_type=str(item["type"]),
        id=str(item["id"]),
        client_id=None if client_id is None else str(client_id),
        has_client_secret=bool(item.get("hasClientSecret")),
        scopes=tuple(str(s) for s in item.get("scopes", [])),
        active=bool(item.get("active", True)),
        updated_at=str(item["updatedAt"]),
        client_secret_name=None if item.get("clientSecretName") is None else str(item["clientSecretName"]),
        stale_client_secrets=tuple(str(name) for name in item.get("staleClientSecrets", [])),
        portal=portal_from_stored(json.loads(str(item.get("portalJson") or "{}"))),
    )


def _end_user(project_id: str, item: dict[str, Any]) -> EndUser:
    return EndUser(
        project_id=project_id,
        user_id=str(item["userId"]),
        meta=json.loads(str(item.get("metaJson") or "{}")),
        created_at=str(item["createdAt"]),
        last_seen_at=str(item["lastSeenAt"]),
    )
