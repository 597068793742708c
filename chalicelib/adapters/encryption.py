"""AES-256-GCM encryption of values at rest, with a versioned keyring for rotation.

Each sealed value records the id of the key that sealed it. The encryption context (project
id + record id) is bound as associated data, so a ciphertext copied onto another record or
into another project fails to open.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.errors import TetherError

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_VERSION = 1


class DecryptionError(TetherError):
    """A sealed value could not be opened (wrong context, unknown key or tampered data)."""

    status = 500
    code = "decryption_failed"


class UnknownDataKey(DecryptionError):
    """A sealed value names a key the keyring lacks even after a fresh read: a server-side fault
    (a lost key or a foreign value), never a normal consequence of rotation."""

    status = 503
    code = "data_key_unknown"


class KeyringUnavailable(TetherError):
    """The deployment's data-encryption keyring is missing or malformed."""

    status = 503
    code = "encryption_unavailable"


@dataclass(frozen=True)
class Keyring:
    """All data keys of a deployment; `current_key_id` encrypts, every key decrypts."""

    current_key_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def new(cls) -> Keyring:
        """A keyring with one freshly generated key."""
        key_id = _new_key_id()
        return cls(key_id, {key_id: AESGCM.generate_key(bit_length=256)})

    def rotated(self) -> Keyring:
        """A copy with a new current key; the old keys stay for decryption."""
        return self.with_current(_new_key_id(), AESGCM.generate_key(bit_length=256))

    def with_current(self, key_id: str, key: bytes) -> Keyring:
        """A copy with `key` added as the current key; every other key stays."""
        if len(key) != KEY_BYTES:
            raise ValueError("A data key is 32 bytes.")
        return Keyring(key_id, {**self.keys, key_id: key})

    def merged(self, other: Keyring) -> Keyring:
        """A copy that also holds every key of `other` it lacks (same current key)."""
        return Keyring(self.current_key_id, {**other.keys, **self.keys})

    def to_json(self) -> str:
        """Serialise for storage in Secrets Manager."""
        return json.dumps(
            {
                "currentKeyId": self.current_key_id,
                "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in self.keys.items()},
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Keyring:
        """Parse the stored form; raise KeyringUnavailable when it is malformed."""
        try:
            data = json.loads(raw)
            keys = {str(kid): base64.b64decode(value, validate=True) for kid, value in data["keys"].items()}
            current = str(data["currentKeyId"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise KeyringUnavailable("The data-encryption keyring is malformed.") from None
        if current not in keys or any(len(key) != KEY_BYTES for key in keys.values()):
            raise KeyringUnavailable("The data-encryption keyring is malformed.")
        return cls(current, keys)


def new_data_key() -> tuple[str, bytes]:
    """A fresh key id and 256-bit key."""
    return _new_key_id(), AESGCM.generate_key(bit_length=256)


def _new_key_id() -> str:
    return "k" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _context(project_id: str, record_id: str) -> bytes:
    return json.dumps({"project": project_id, "record": record_id}, sort_keys=True, separators=(",", ":")).encode()


class Encryptor:
    """Seals and opens values with the current keyring (loaded lazily through `load_keyring`).

    A value sealed with a key this container's (cached) keyring does not know yet, which is
    what a key rotation elsewhere looks like, makes it read the keyring again through
    `reload_keyring`, at most once per value and shared by concurrent callers, then retry.
    """

    def __init__(
        self, load_keyring: Callable[[], Keyring], reload_keyring: Callable[[], Keyring] | None = None
    ) -> None:
        self._load_keyring = load_keyring
        self._reload_keyring = reload_keyring
        self._reload_lock = threading.Lock()
        self._reloads = 0
        self._reloaded: Keyring | None = None

    def seal(self, plaintext: str, *, project_id: str, record_id: str) -> dict[str, Any]:
        """Encrypt `plaintext` for one record; returns the map to store beside the record."""
        keyring = self._load_keyring()
        key_id = keyring.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(keyring.keys[key_id]).encrypt(
            nonce, plaintext.encode("utf-8"), _context(project_id, record_id)
        )
        return {
            "v": FORMAT_VERSION,
            "kid": key_id,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ct": base64.b64encode(ciphertext).decode("ascii"),
        }

    def open(self, sealed: Mapping[str, Any], *, project_id: str, record_id: str) -> str:
        """Decrypt a sealed map produced by `seal` for the same project and record."""
        reloads_before = self._reloads
        key_id = str(sealed.get("kid"))
        key = self._load_keyring().keys.get(key_id)
        if key is None:
            key = self._key_after_reload(key_id, reloads_before)
        try:
            nonce = base64.b64decode(str(sealed["nonce"]), validate=True)
            ciphertext = base64.b64decode(str(sealed["ct"]), validate=True)
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, _context(project_id, record_id))
        except (KeyError, ValueError, binascii.Error, InvalidTag):
            raise DecryptionError("A stored secret could not be decrypted.") from None
        return plaintext.decode("utf-8")

    def _key_after_reload(self, key_id: str, reloads_before: int) -> bytes:
        """The key from a keyring read after this call began (this call's own read, or one a
        concurrent caller made meanwhile); UnknownDataKey when even that lacks it."""
        if self._reload_keyring is not None:
            with self._reload_lock:
                if self._reloads == reloads_before or self._reloaded is None:
                    self._reloads += 1
                    log.info("data key %s is not in the cached keyring; reading the keyring again", key_id)
                    self._reloaded = self._reload_keyring()
                key = self._reloaded.keys.get(key_id)
            if key is not None:
                return key
        raise UnknownDataKey("A stored secret was sealed with a data key this deployment does not have.")

    def is_current(self, sealed: Mapping[str, Any]) -> bool:
        """True when `sealed` was made with the keyring's current key."""
        return sealed.get("kid") == self._load_keyring().current_key_id
