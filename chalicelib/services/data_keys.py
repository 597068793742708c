"""Use cases: create and rotate the deployment's data-encryption keyring.

The keyring is one Secrets Manager secret. Only the operator's CLI writes it; the runtime
reads it. A rotation never drops a key: it re-reads the stored keyring, keeps every key it
finds (also in the previous version), adds one, and stores the result with a compare-and-set
on the secret's current version, so two rotations at once both keep their keys.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from chalicelib.adapters.encryption import Encryptor, Keyring, KeyringUnavailable, new_data_key
from chalicelib.adapters.repositories import (
    SEALED_ATTRIBUTE,
    SEALED_PROJECT_ATTRIBUTE,
    SEALED_RECORD_ATTRIBUTE,
    SealedItems,
)
from chalicelib.adapters.secrets import PREVIOUS_STAGE, SecretStore
from chalicelib.domain.errors import Conflict

SWAP_ATTEMPTS = 8


def load_keyring(secrets: SecretStore, secret_id: str, *, fresh: bool = False) -> Keyring:
    """The stored keyring (`fresh` bypasses the cache); KeyringUnavailable when there is none."""
    raw = secrets.get(secret_id, fresh=fresh)
    if raw is None:
        raise KeyringUnavailable("No data-encryption keyring is configured for this deployment.")
    return Keyring.from_json(raw)


def ensure_keyring(secrets: SecretStore, secret_id: str) -> Keyring:
    """The stored keyring, creating one with a fresh key when there is none.

    Creation never overwrites: when another process created the keyring first, its one wins.
    """
    raw = secrets.get(secret_id, fresh=True)
    if raw is not None:
        return Keyring.from_json(raw)
    keyring = Keyring.new()
    if secrets.create(secret_id, keyring.to_json()):
        return keyring
    return load_keyring(secrets, secret_id, fresh=True)


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did."""

    new_key_id: str
    reencrypted: int
    already_current: int
    changed_meanwhile: int


def add_data_key(secrets: SecretStore, secret_id: str) -> tuple[str, Keyring]:
    """Store a keyring with one new current key and every key stored so far.

    Returns the new key id and the keyring read back from Secrets Manager (uncached) after
    checking that it holds the new key. A concurrent rotation may have made its own key
    current since; its key and ours are then both in the keyring.
    """
    key_id, key = new_data_key()
    for _ in range(SWAP_ATTEMPTS):
        current = secrets.read_version(secret_id)
        if current is None:
            raise KeyringUnavailable("No data-encryption keyring is configured for this deployment.")
        keyring = Keyring.from_json(current.value)
        previous = secrets.read_version(secret_id, PREVIOUS_STAGE)
        if previous is not None:
            # Keys that a writer without compare-and-set may have dropped are kept too.
            with contextlib.suppress(KeyringUnavailable):
                keyring = keyring.merged(Keyring.from_json(previous.value))
        if secrets.swap_current(secret_id, keyring.with_current(key_id, key).to_json(), current.version_id):
            break
    else:
        raise Conflict("The keyring kept changing while this rotation ran; run it again.", code="keyring_busy")
    stored = load_keyring(secrets, secret_id, fresh=True)
    if stored.keys.get(key_id) != key:
        raise KeyringUnavailable("The new data key did not persist; nothing was re-encrypted. Run the rotation again.")
    return key_id, stored


def rotate_data_keys(secrets: SecretStore, secret_id: str, sealed_items: SealedItems) -> RotationReport:
    """Add a new current key, then re-encrypt every stored sealed value with the current key.

    Old keys stay in the keyring, so values written by containers that still cache the old
    keyring remain readable; running the rotation again re-encrypts those too. Values sealed
    meanwhile with a key newer than this process knows (a concurrent rotation) are opened
    after reading the keyring again, and then re-sealed with that newer current key.
    """
    key_id, stored = add_data_key(secrets, secret_id)
    keyring = [stored]

    def reload() -> Keyring:
        keyring[0] = load_keyring(secrets, secret_id, fresh=True)
        return keyring[0]

    encryptor = Encryptor(lambda: keyring[0], reload)
    reencrypted = already_current = changed = 0
    for item in sealed_items.scan():
        sealed = item[SEALED_ATTRIBUTE]
        if encryptor.is_current(sealed):
            already_current += 1
            continue
        context = {
            "project_id": str(item[SEALED_PROJECT_ATTRIBUTE]),
            "record_id": str(item[SEALED_RECORD_ATTRIBUTE]),
        }
        plaintext = encryptor.open(sealed, **context)
        if encryptor.is_current(sealed):
            already_current += 1
            continue
        if sealed_items.replace_sealed(item, encryptor.seal(plaintext, **context)):
            reencrypted += 1
        else:
            changed += 1
    return RotationReport(key_id, reencrypted, already_current, changed)
