"""DynamoDB repository of task history: runs and their step records, kept for the history TTL."""

from __future__ import annotations

import json
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
from chalicelib.adapters.repositories import NEW_ITEM
from chalicelib.domain.workflows.records import RunRecord, RunStatus, StepRecord

# A step's input or output is kept whole up to this size (JSON text); beyond it the record keeps a
# note instead, so one item stays far below DynamoDB's 400 KB item limit.
MAX_RECORDED_JSON_CHARS = 64 * 1024
_CURSOR_KEYS = {keys.PK, keys.SK, keys.GSI1PK, keys.GSI1SK}


class RunRepository:
    """Runs (one item each, listed newest first through GSI1) and their step records."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, run: RunRecord, expires_at: int) -> None:
        """Store a new run (RUNNING)."""
        item: dict[str, Any] = {
            **keys.run(run.project_id, run.id).as_item(),
            keys.GSI1PK: keys.runs_index_partition(run.project_id),
            keys.GSI1SK: keys.runs_index_sort(run.started_at, run.id),
            keys.TTL_ATTRIBUTE: expires_at,
            "runId": run.id,
            "workflowId": run.workflow_id,
            "version": run.version,
            "userId": run.user_id,
            "status": run.status,
            "trigger": _json_text(run.trigger),
            "startedAt": run.started_at,
        }
        if run.replay_of is not None:
            item["replayOf"] = run.replay_of
        if run.ended_at is not None:
            item["endedAt"] = run.ended_at
        if run.error is not None:
            item["error"] = _json_text(run.error)
        try:
            self._table.put_item(Item=item, ConditionExpression=NEW_ITEM)
        except ClientError as exc:
            raise storage_error(exc) from None

    def set_execution(self, project_id: str, run_id: str, execution_arn: str) -> None:
        """Remember the Step Functions execution that carries the run."""
        self._update(project_id, run_id, "SET executionArn = :a", {":a": execution_arn}, only_running=False)

    def finish(
        self, project_id: str, run_id: str, status: RunStatus, ended_at: str, error: dict[str, Any] | None = None
    ) -> bool:
        """Mark a RUNNING run finished; False when it had finished already (the first outcome stays)."""
        expression = "SET #s = :s, endedAt = :e"
        values: dict[str, Any] = {":s": status, ":e": ended_at}
        if error is not None:
            expression += ", #err = :err"
            values[":err"] = _json_text(error)
        return self._update(project_id, run_id, expression, values, only_running=True)

    def get(self, project_id: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        """A run with its step records (in the order they started), or None."""
        items = query_all(
            self._table,
            KeyConditionExpression=f"{keys.PK} = :pk",
            ExpressionAttributeValues={":pk": keys.run_partition(project_id, run_id)},
            ConsistentRead=True,
        )
        run_item = next((item for item in items if item[keys.SK] == keys.RUN), None)
        if run_item is None:
            return None
        steps = [_step(item) for item in items if str(item[keys.SK]).startswith(keys.STEP_PREFIX)]
        steps.sort(key=lambda step: (step.started_at, step.step_id, step.position))
        return _run(project_id, run_item), steps

    def list_runs(
        self,
        project_id: str,
        *,
        limit: int,
        cursor: str | None,
        workflow_id: str | None = None,
        user_id: str | None = None,
        status: str | None = None,
    ) -> tuple[list[RunRecord], str | None]:
        """Runs newest first, filtered; returns the page and the cursor of the next one."""
        filters = {
            name: value
            for name, value in (("workflowId", workflow_id), ("userId", user_id), ("status", status))
            if value is not None
        }
        kwargs: dict[str, Any] = {
            "IndexName": keys.GSI1,
            "KeyConditionExpression": f"{keys.GSI1PK} = :pk",
            "ExpressionAttributeValues": {":pk": keys.runs_index_partition(project_id)},
            "ScanIndexForward": False,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(f"#f{i} = :f{i}" for i in range(len(filters)))
            kwargs["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(filters)}
            kwargs["ExpressionAttributeValues"].update({f":f{i}": value for i, value in enumerate(filters.values())})
        start = decode_cursor(cursor, _CURSOR_KEYS)
        if start is not None:
            if start[keys.GSI1PK] != keys.runs_index_partition(project_id):
                start = None  # another project's cursor: start over rather than leak its position
            else:
                kwargs["ExclusiveStartKey"] = start
        runs: list[RunRecord] = []
        last_key: dict[str, Any] | None = None
        try:
            while len(runs) < limit:
                kwargs["Limit"] = max(limit - len(runs), 1) if not filters else max(limit * 4, 25)
                page = self._table.query(**kwargs)
                for item in page.get("Items", []):
                    runs.append(_run(project_id, item))
                    last_key = {name: item[name] for name in _CURSOR_KEYS}
                    if len(runs) == limit:
                        break
                if len(runs) == limit:
                    break
                if "LastEvaluatedKey" not in page:
                    last_key = None
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                last_key = page["LastEvaluatedKey"]
        except ClientError as exc:
            raise storage_error(exc) from None
        return runs, encode_cursor(last_key) if last_key else None

    def put_step(self, project_id: str, run_id: str, step: StepRecord, expires_at: int) -> None:
        """Write (or overwrite, attempt by attempt) one step's record."""
        item: dict[str, Any] = {
            **keys.step_record(project_id, run_id, step.step_id, step.position).as_item(),
            keys.TTL_ATTRIBUTE: expires_at,
            "stepId": step.step_id,
            "status": step.status,
            "attempts": step.attempts,
            "input": _json_text(step.input),
            "output": _json_text(step.output),
            "startedAt": step.started_at,
        }
        if step.index is not None:
            item["index"] = step.index
        if step.outer:
            item["outer"] = list(step.outer)
        if step.error is not None:
            item["error"] = _json_text(step.error)
        if step.ended_at is not None:
            item["endedAt"] = step.ended_at
        if step.http_status is not None:
            item["httpStatus"] = step.http_status
        try:
            self._table.put_item(Item=item)
        except ClientError as exc:
            raise storage_error(exc) from None

    def get_step(self, project_id: str, run_id: str, step_id: str, position: tuple[int, ...]) -> StepRecord | None:
        """One step's record (at `position` in the fan_outs around it), or None before its first
        attempt."""
        try:
            item = self._table.get_item(
                Key=keys.step_record(project_id, run_id, step_id, position).as_item(), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise storage_error(exc) from None
        return None if item is None else _step(item)

    def _update(
        self, project_id: str, run_id: str, expression: str, values: dict[str, Any], *, only_running: bool
    ) -> bool:
        condition = "attribute_exists(PK)" + (" AND #s = :running" if only_running else "")
        names = {"#s": "status"} if only_running or "#s" in expression else {}
        if "#err" in expression:
            names["#err"] = "error"
        if only_running:
            values = {**values, ":running": "RUNNING"}
        kwargs: dict[str, Any] = {
            "Key": keys.run(project_id, run_id).as_item(),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._table.update_item(**kwargs)
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise storage_error(exc) from None
        return True


def _json_text(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_RECORDED_JSON_CHARS:
        return json.dumps(
            {"truncated": True, "message": f"Not recorded: {len(text)} characters of JSON, over the record limit."}
        )
    return text


def _run(project_id: str, item: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=str(item["runId"]),
        project_id=project_id,
        workflow_id=str(item["workflowId"]),
        version=int(item["version"]),
        user_id=str(item["userId"]),
        status=item["status"],
        trigger=json.loads(str(item["trigger"])),
        started_at=str(item["startedAt"]),
        ended_at=str(item["endedAt"]) if item.get("endedAt") else None,
        error=json.loads(str(item["error"])) if item.get("error") else None,
        execution_arn=str(item["executionArn"]) if item.get("executionArn") else None,
        replay_of=str(item["replayOf"]) if item.get("replayOf") else None,
    )


def _step(item: dict[str, Any]) -> StepRecord:
    return StepRecord(
        step_id=str(item["stepId"]),
        index=int(item["index"]) if item.get("index") is not None else None,
        outer=tuple(int(index) for index in item.get("outer") or ()),
        status=item["status"],
        attempts=int(item["attempts"]),
        input=json.loads(str(item["input"])),
        output=json.loads(str(item["output"])),
        error=json.loads(str(item["error"])) if item.get("error") else None,
        started_at=str(item["startedAt"]),
        ended_at=str(item["endedAt"]) if item.get("endedAt") else None,
        http_status=int(item["httpStatus"]) if item.get("httpStatus") is not None else None,
    )
