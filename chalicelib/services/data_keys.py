"""Use cases: create and rotate the deployment's data-encryption keyring."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.encryption import Encryptor, Keyring, KeyringUnavailable
from chalicelib.adapters.repositories import (
    SEALED_ATTRIBUTE,
    SEALED_PROJECT_ATTRIBUTE,
    SEALED_RECORD_ATTRIBUTE,
    SealedItems,
)
from chalicelib.adapters.secrets import SecretStore


def load_keyring(secrets: SecretStore, secret_id: str) -> Keyring:
    """The stored keyring; KeyringUnavailable when the deployment has none."""
    raw = secrets.get(secret_id)
    if raw is None:
        raise KeyringUnavailable("No data-encryption keyring is configured for this deployment.")
    return Keyring.from_json(raw)


def ensure_keyring(secrets: SecretStore, secret_id: str) -> Keyring:
    """The stored keyring, creating one with a fresh key when there is none."""
    raw = secrets.get(secret_id)
    if raw is not None:
        return Keyring.from_json(raw)
    keyring = Keyring.new()
    secrets.put(secret_id, keyring.to_json())
    return keyring


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did."""

    new_key_id: str
    reencrypted: int
    already_current: int
    changed_meanwhile: int


def rotate_data_keys(secrets: SecretStore, secret_id: str, sealed_items: SealedItems) -> RotationReport:
    """Add a new current key, then re-encrypt every stored sealed value with it.

    Old keys stay in the keyring, so values written by containers that still cache the old
    keyring remain readable; running the rotation again re-encrypts those too.
    """
    keyring = load_keyring(secrets, secret_id).rotated()
    secrets.put(secret_id, keyring.to_json())
    encryptor = Encryptor(lambda: keyring)
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
        if sealed_items.replace_sealed(item, encryptor.seal(plaintext, **context)):
            reencrypted += 1
        else:
            changed += 1
    return RotationReport(keyring.current_key_id, reencrypted, already_current, changed)
