"""Large step outputs, kept in S3 while the state machine carries a small reference to them.

Step Functions carries at most 256 KB of state, every step's output included. An output whose
JSON is larger than the threshold is written to the outputs bucket (private, encrypted, objects
expire with the run history) and replaced in the state by `{"$tetherOutput": {"key", "bytes"}}`.
The step runner and the runs API read references back transparently."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import UpstreamError

REFERENCE = "$tetherOutput"


class OutputStore:
    """Puts and gets step outputs by key."""

    def __init__(self, client_factory: Callable[[], Any], bucket: str) -> None:
        self._client_factory = client_factory
        self._bucket = bucket

    def put(self, key: str, value: Any) -> dict[str, Any]:
        """Store `value` as JSON under `key`; return the reference that stands for it."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            self._client_factory().put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                ServerSideEncryption="AES256",
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(
                f"A large step output could not be stored ({type(exc).__name__}).", code="output_store_unavailable"
            ) from None
        return {REFERENCE: {"key": key, "bytes": len(data)}}

    def get(self, reference: dict[str, Any]) -> Any:
        """The value a reference stands for."""
        key = str(reference[REFERENCE]["key"])
        try:
            body = self._client_factory().get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(
                f"A large step output could not be read ({type(exc).__name__}).", code="output_store_unavailable"
            ) from None
        return json.loads(body)


def is_reference(value: Any) -> bool:
    """True for a reference to a stored output."""
    return isinstance(value, dict) and set(value) == {REFERENCE} and isinstance(value[REFERENCE], dict)
