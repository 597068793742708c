"""Secrets Manager access with a per-container, time-limited cache."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.domain.errors import UpstreamError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
# Label of a version written by `swap_current` that is not (yet) current; it keeps the version
# from counting as deprecated until the swap either succeeds or is abandoned.
PENDING_STAGE = "TetherPending"
# Secrets the runtime deletes stay recoverable this long (never ForceDeleteWithoutRecovery).
RECOVERY_WINDOW_DAYS = 7


@dataclass(frozen=True)
class SecretVersion:
    """One stored version of a secret."""

    value: str = field(repr=False)
    version_id: str


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

    def get(self, secret_id: str, *, fresh: bool = False) -> str | None:
        """The secret's current string value, or None when the secret does not exist.

        `fresh` skips the cache (and refreshes it): for a caller that has reason to believe
        the cached value is out of date.
        """
        now = self._clock()
        if not fresh:
            with self._lock:
                cached = self._cache.get(secret_id)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        found = self.read_version(secret_id)
        value = None if found is None else found.value
        with self._lock:
            self._cache[secret_id] = (now, value)
        return value

    def read_version(self, secret_id: str, stage: str = CURRENT_STAGE) -> SecretVersion | None:
        """The version holding `stage`, read from Secrets Manager (never cached); None if none does."""
        try:
            response = self._client_factory().get_secret_value(SecretId=secret_id, VersionStage=stage)
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                # InvalidRequestException: the secret is scheduled for deletion.
                return None
            # The exception text names the secret, never its value; keep it out of responses anyway.
            raise UpstreamError("Could not read a secret.", code="secrets_unavailable") from None
        value = response.get("SecretString")
        if value is None:
            return None
        return SecretVersion(value, str(response["VersionId"]))

    def put(self, secret_id: str, value: str) -> None:
        """Create the secret, or add a new current version to it (last writer wins)."""
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

    def create(self, secret_id: str, value: str) -> bool:
        """Create a new secret; False (and nothing written) when one by that name exists already."""
        try:
            self._client_factory().create_secret(Name=secret_id, SecretString=value)
        except ClientError as exc:
            if _code(exc) in ("ResourceExistsException", "InvalidRequestException"):
                # InvalidRequestException: a secret of that name is scheduled for deletion.
                return False
            raise UpstreamError("Could not store a secret.", code="secrets_unavailable") from None
        self._remember(secret_id, value)
        return True

    def swap_current(self, secret_id: str, value: str, expected_version_id: str) -> bool:
        """Make `value` the current version only if the current one is still `expected_version_id`.

        A compare-and-set: the new version is written under a pending label, then the
        `AWSCURRENT` label is moved to it from `expected_version_id`, which Secrets Manager
        refuses when the label has moved meanwhile (another writer won). False in that case.
        """
        client = self._client_factory()
        version_id = str(uuid.uuid4())
        try:
            client.put_secret_value(
                SecretId=secret_id, SecretString=value, ClientRequestToken=version_id, VersionStages=[PENDING_STAGE]
            )
            client.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage=CURRENT_STAGE,
                MoveToVersionId=version_id,
                RemoveFromVersionId=expected_version_id,
            )
        except ClientError as exc:
            if _code(exc) == "InvalidParameterException":
                return False
            raise UpstreamError("Could not store a secret.", code="secrets_unavailable") from None
        self._remember(secret_id, value)
        return True

    def delete(self, secret_id: str) -> None:
        """Schedule the secret for deletion (recoverable for a week); a missing one is fine."""
        client = self._client_factory()
        try:
            client.delete_secret(SecretId=secret_id, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)
        except ClientError as exc:
            # InvalidRequestException: already scheduled for deletion.
            if _code(exc) not in ("ResourceNotFoundException", "InvalidRequestException"):
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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
