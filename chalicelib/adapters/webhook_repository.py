"""DynamoDB repository of webhook secrets, sealed with the data keyring like credentials.

Each secret is an item of its own in the webhook's partition (so key rotation re-seals it like
any sealed item): the newest has no `validUntil`; a replaced one keeps working until its
`validUntil` and is then removed by the table's TTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.adapters.dynamo import Table, query_all, storage_error
from chalicelib.adapters.encryption import Encryptor
from chalicelib.adapters.repositories import SEALED_ATTRIBUTE, SEALED_PROJECT_ATTRIBUTE, SEALED_RECORD_ATTRIBUTE
from chalicelib.domain.errors import Conflict


@dataclass(frozen=True)
class WebhookSecret:
    """One secret of a webhook, opened."""

    hook_id: str
    project_id: str
    workflow_id: str
    number: int
    secret: str = field(repr=False)
    valid_until: int | None


class WebhookRepository:
    """Webhook secrets by hook id."""

    def __init__(self, table: Table, encryptor: Encryptor) -> None:
        self._table = table
        self._encryptor = encryptor

    def create(self, hook_id: str, project_id: str, workflow_id: str, secret: str) -> None:
        """Store a new webhook's first secret."""
        item = self._item(hook_id, project_id, workflow_id, 1, secret)
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as exc:
            raise storage_error(exc) from None

    def secrets(self, hook_id: str, now: float) -> list[WebhookSecret]:
        """The secrets that may sign a delivery now, newest first ([] for an unknown hook)."""
        items = query_all(
            self._table,
            KeyConditionExpression=f"{keys.PK} = :pk AND begins_with({keys.SK}, :prefix)",
            ExpressionAttributeValues={":pk": keys.webhook_partition(hook_id), ":prefix": keys.WEBHOOK_SECRET_PREFIX},
            ConsistentRead=True,
        )
        found = [self._open(hook_id, item) for item in items]
        valid = [s for s in found if s.valid_until is None or s.valid_until > now]
        return sorted(valid, key=lambda s: -s.number)

    def rotate(self, current: WebhookSecret, new_secret: str, previous_valid_until: int) -> None:
        """Make `new_secret` the current one; the one replaced stays valid until the given time.
        A concurrent rotation makes this one fail with 409 (nothing changes)."""
        new_item = self._item(current.hook_id, current.project_id, current.workflow_id, current.number + 1, new_secret)
        operations: list[Any] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": new_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": keys.webhook_secret(current.hook_id, current.number).as_item(),
                    "UpdateExpression": "SET validUntil = :until, #ttl = :expires",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(validUntil)",
                    "ExpressionAttributeNames": {"#ttl": keys.TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {
                        ":until": previous_valid_until,
                        ":expires": previous_valid_until + 3600,
                    },
                }
            },
        ]
        try:
            self._table.transact_write_items(TransactItems=operations)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise Conflict("The webhook secret changed meanwhile; rotate again.", code="webhook_conflict") from None
            raise storage_error(exc) from None

    def delete(self, hook_id: str) -> None:
        """Remove every secret: the webhook URL stops working."""
        items = query_all(
            self._table,
            KeyConditionExpression=f"{keys.PK} = :pk",
            ExpressionAttributeValues={":pk": keys.webhook_partition(hook_id)},
            ProjectionExpression="PK, SK",
            ConsistentRead=True,
        )
        try:
            for item in items:
                self._table.delete_item(Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]})
        except ClientError as exc:
            raise storage_error(exc) from None

    def _item(self, hook_id: str, project_id: str, workflow_id: str, number: int, secret: str) -> dict[str, Any]:
        record_id = _record_id(hook_id, number)
        return {
            **keys.webhook_secret(hook_id, number).as_item(),
            "hookId": hook_id,
            "workflowId": workflow_id,
            "number": number,
            SEALED_PROJECT_ATTRIBUTE: project_id,
            SEALED_RECORD_ATTRIBUTE: record_id,
            SEALED_ATTRIBUTE: self._encryptor.seal(secret, project_id=project_id, record_id=record_id),
        }

    def _open(self, hook_id: str, item: dict[str, Any]) -> WebhookSecret:
        project_id = str(item[SEALED_PROJECT_ATTRIBUTE])
        number = int(str(item["number"]))
        secret = self._encryptor.open(
            item[SEALED_ATTRIBUTE], project_id=project_id, record_id=_record_id(hook_id, number)
        )
        valid_until = item.get("validUntil")
        return WebhookSecret(
            hook_id=hook_id,
            project_id=project_id,
            workflow_id=str(item["workflowId"]),
            number=number,
            secret=secret,
            valid_until=int(str(valid_until)) if valid_until is not None else None,
        )


def _record_id(hook_id: str, number: int) -> str:
    """What a secret's encryption is bound to (a sealed secret moved to another item fails to open)."""
    return f"webhook:{hook_id}:{number}"
