"""Secrets Manager access with a per-container, time-limited cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.domain.errors import UpstreamError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient


class SecretStore:
    """Reads and writes string secrets, caching reads for `ttl_seconds`."""

    def __init__(
        self,
        client_factory: Callable[[], SecretsManagerClient],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> str | None:
        """The secret's current string value, or None when the secret does not exist."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(secret_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = self._fetch(secret_id)
        with self._lock:
            self._cache[secret_id] = (now, value)
        return value

    def put(self, secret_id: str, value: str) -> None:
        """Create the secret, or add a new current version to it."""
        client = self._client_factory()
        try:
            client.put_secret_value(SecretId=secret_id, SecretString=value)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise UpstreamError("Could not store a secret.", code="secrets_unavailable") from None
            try:
                client.create_secret(Name=secret_id, SecretString=value)
            except ClientError:
                raise UpstreamError("Could not store a secret.", code="secrets_unavailable") from None
        self._remember(secret_id, value)

    def delete(self, secret_id: str) -> None:
        """Delete the secret at once (no recovery window); a missing secret is fine."""
        client = self._client_factory()
        try:
            client.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise UpstreamError("Could not delete a secret.", code="secrets_unavailable") from None
        self._remember(secret_id, None)

    def invalidate(self, secret_id: str | None = None) -> None:
        """Drop one cached secret, or all of them."""
        with self._lock:
            if secret_id is None:
                self._cache.clear()
            else:
                self._cache.pop(secret_id, None)

    def _remember(self, secret_id: str, value: str | None) -> None:
        with self._lock:
            self._cache[secret_id] = (self._clock(), value)

    def _fetch(self, secret_id: str) -> str | None:
        try:
            response = self._client_factory().get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            # The exception text names the secret, never its value; keep it out of responses anyway.
            raise UpstreamError("Could not read a secret.", code="secrets_unavailable") from None
        return response.get("SecretString")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
