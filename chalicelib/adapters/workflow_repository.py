"""DynamoDB repository of workflows: deployed versions, each end user's choices, trigger claims."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import keys
from chalicelib.adapters.dynamo import Table, is_condition_failure, query_all, storage_error
from chalicelib.adapters.repositories import NEW_ITEM
from chalicelib.domain.errors import Conflict
from chalicelib.domain.workflows.records import DeployedWorkflow, UserWorkflowState

# The items of one partition whose sort key starts with a prefix.
PARTITION_PREFIX = f"{keys.PK} = :pk AND begins_with({keys.SK}, :prefix)"


class WorkflowRepository:
    """Workflows (a current version each), their immutable versions, and per-user state."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- definitions ------------------------------------------------------------------------

    def get(self, project_id: str, workflow_id: str) -> DeployedWorkflow | None:
        """The workflow's current version, or None."""
        item = self._get_item(keys.workflow(project_id, workflow_id))
        return None if item is None else _deployed(project_id, item)

    def get_version(self, project_id: str, workflow_id: str, version: int) -> DeployedWorkflow | None:
        """One deployed version (versions never change once written), or None."""
        item = self._get_item(keys.workflow_version(project_id, workflow_id, version))
        return None if item is None else _deployed(project_id, item)

    def list_workflows(self, project_id: str) -> list[DeployedWorkflow]:
        """Every workflow of the project (current versions), by id."""
        items = self._query(keys.workflows_partition(project_id), keys.WORKFLOW_PREFIX)
        return [_deployed(project_id, item) for item in items]

    def latest_version_number(self, project_id: str, workflow_id: str) -> int:
        """The highest version ever deployed under this id (0 if none): numbers are never reused,
        even after the workflow is deleted and deployed again."""
        try:
            page = self._table.query(
                KeyConditionExpression=PARTITION_PREFIX,
                ExpressionAttributeValues={
                    ":pk": keys.workflows_partition(project_id),
                    ":prefix": keys.workflow_versions_prefix(workflow_id),
                },
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
                ProjectionExpression="version",
            )
        except ClientError as exc:
            raise storage_error(exc) from None
        items = page.get("Items", [])
        return int(str(items[0]["version"])) if items else 0

    def save_version(self, workflow: DeployedWorkflow, previous_version: int | None) -> None:
        """Write a new version and make it current, in one transaction.

        `previous_version` is the current version the caller read (None: no workflow yet); when
        another deploy got in first, nothing is written and this raises 409 `workflow_conflict`."""
        attributes = _attributes(workflow)
        version_item = {
            **keys.workflow_version(workflow.project_id, workflow.id, workflow.version).as_item(),
            **attributes,
        }
        head_item = {**keys.workflow(workflow.project_id, workflow.id).as_item(), **attributes}
        if previous_version is None:
            head_condition = "attribute_not_exists(PK)"
            values: dict[str, Any] = {}
        else:
            head_condition = "version = :previous"
            values = {":previous": previous_version}
        head_put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": head_item,
            "ConditionExpression": head_condition,
        }
        if values:
            head_put["ExpressionAttributeValues"] = values
        # Items as plain Python values: `Table` converts them.
        operations: list[Any] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": version_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {"Put": head_put},
        ]
        try:
            self._table.transact_write_items(TransactItems=operations)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise Conflict(
                    "The workflow changed while this version was being deployed; deploy again.",
                    code="workflow_conflict",
                ) from None
            raise storage_error(exc) from None

    def delete(self, project_id: str, workflow_id: str, version: int) -> bool:
        """Remove the workflow (its versions stay, so runs in flight can finish). False when it
        was already gone or another deploy changed it meanwhile."""
        try:
            self._table.delete_item(
                Key=keys.workflow(project_id, workflow_id).as_item(),
                ConditionExpression="version = :version",
                ExpressionAttributeValues={":version": version},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise storage_error(exc) from None
        return True

    def versions(self, project_id: str, workflow_id: str) -> list[DeployedWorkflow]:
        """Every version ever deployed under this id, oldest first."""
        items = self._query(keys.workflows_partition(project_id), keys.workflow_versions_prefix(workflow_id))
        return [_deployed(project_id, item) for item in items]

    def mark_retired(self, project_id: str, workflow_id: str, version: int, at: str) -> None:
        """Note that an old version's state machine is deleted (its record stays for history)."""
        try:
            self._table.update_item(
                Key=keys.workflow_version(project_id, workflow_id, version).as_item(),
                UpdateExpression="SET retiredAt = :at",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":at": at},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return
            raise storage_error(exc) from None

    # ---- per-user state ---------------------------------------------------------------------

    def user_states(self, project_id: str, user_id: str) -> dict[str, UserWorkflowState]:
        """The user's choices, by workflow id."""
        items = self._query(keys.user_partition(project_id, user_id), keys.USER_WORKFLOW_PREFIX)
        states = [_user_state(item) for item in items]
        return {state.workflow_id: state for state in states}

    def user_state(self, project_id: str, user_id: str, workflow_id: str) -> UserWorkflowState:
        """The user's choice for one workflow (an empty state when they never chose)."""
        item = self._get_item(keys.user_workflow(project_id, user_id, workflow_id))
        return UserWorkflowState(workflow_id) if item is None else _user_state(item)

    def set_user_state(
        self,
        project_id: str,
        user_id: str,
        workflow_id: str,
        now: str,
        *,
        enabled: bool | None = None,
        settings: dict[str, Any] | None = None,
    ) -> UserWorkflowState:
        """Change what is given (enabled, settings) and keep the rest; return the new state."""
        names = {"#w": "workflowId", "#u": "updatedAt"}
        values: dict[str, Any] = {":w": workflow_id, ":u": now}
        sets = ["#w = :w", "#u = :u"]
        if enabled is not None:
            names["#e"] = "enabled"
            values[":e"] = enabled
            sets.append("#e = :e")
        if settings is not None:
            names["#s"] = "settings"
            values[":s"] = json.dumps(settings, separators=(",", ":"))
            sets.append("#s = :s")
        try:
            result = self._table.update_item(
                Key=keys.user_workflow(project_id, user_id, workflow_id).as_item(),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            raise storage_error(exc) from None
        return _user_state(result["Attributes"])

    # ---- trigger claims ---------------------------------------------------------------------

    def claim_trigger(
        self, project_id: str, user_id: str, workflow_id: str, claim_hash: str, run_id: str, expires_at: int | None
    ) -> str | None:
        """Record that `run_id` answers this trigger. Returns None when the claim is new, else the
        run id an earlier claim recorded (that run was started, or is being started, already)."""
        key = keys.trigger_claim(project_id, user_id, workflow_id, claim_hash)
        item: dict[str, Any] = {**key.as_item(), "runId": run_id}
        if expires_at is not None:
            item[keys.TTL_ATTRIBUTE] = expires_at
        try:
            self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise storage_error(exc) from None
            existing = self._get_item(key)
            return str(existing["runId"]) if existing is not None else run_id
        return None

    def release_trigger(self, project_id: str, user_id: str, workflow_id: str, claim_hash: str, run_id: str) -> None:
        """Undo a claim whose run could not start, so the caller's retry can start it."""
        try:
            self._table.delete_item(
                Key=keys.trigger_claim(project_id, user_id, workflow_id, claim_hash).as_item(),
                ConditionExpression="runId = :run",
                ExpressionAttributeValues={":run": run_id},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise storage_error(exc) from None

    # ---- plumbing ---------------------------------------------------------------------------

    def _get_item(self, key: keys.Key) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self._table.get_item(Key=key.as_item(), ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        return item

    def _query(self, partition: str, sort_prefix: str) -> list[dict[str, Any]]:
        return query_all(
            self._table,
            KeyConditionExpression=PARTITION_PREFIX,
            ExpressionAttributeValues={":pk": partition, ":prefix": sort_prefix},
            ConsistentRead=True,
        )


def _attributes(workflow: DeployedWorkflow) -> dict[str, Any]:
    extra = {"webhookId": workflow.webhook_id} if workflow.webhook_id else {}
    return {
        **extra,
        "workflowId": workflow.id,
        "version": workflow.version,
        "definition": json.dumps(workflow.definition, separators=(",", ":"), sort_keys=True),
        "stateMachineArn": workflow.state_machine_arn,
        "createdAt": workflow.created_at,
        "updatedAt": workflow.updated_at,
    }


def _deployed(project_id: str, item: dict[str, Any]) -> DeployedWorkflow:
    return DeployedWorkflow(
        project_id=project_id,
        id=str(item["workflowId"]),
        version=int(item["version"]),
        definition=json.loads(str(item["definition"])),
        state_machine_arn=str(item["stateMachineArn"]),
        created_at=str(item["createdAt"]),
        updated_at=str(item["updatedAt"]),
        webhook_id=str(item["webhookId"]) if item.get("webhookId") else None,
        retired_at=str(item["retiredAt"]) if item.get("retiredAt") else None,
    )


def _user_state(item: dict[str, Any]) -> UserWorkflowState:
    enabled = item.get("enabled")
    settings = item.get("settings")
    return UserWorkflowState(
        workflow_id=str(item["workflowId"]),
        enabled=None if enabled is None else bool(enabled),
        settings=json.loads(str(settings)) if settings else {},
        updated_at=str(item["updatedAt"]) if item.get("updatedAt") else None,
    )
