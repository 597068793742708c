"""AES-256-GCM sealing, context binding, and key rotation with re-encryption."""

from __future__ import annotations

import base64

import pytest

from chalicelib.adapters.encryption import DecryptionError, Encryptor, Keyring, KeyringUnavailable


def test_seal_and_open_round_trip() -> None:
    keyring = Keyring.new()
    encryptor = Encryptor(lambda: keyring)
    sealed = encryptor.seal("token-value", project_id="p1", record_id="c1")
    assert "token-value" not in repr(sealed)
    assert sealed["kid"] == keyring.current_key_id
    assert encryptor.open(sealed, project_id="p1", record_id="c1") == "token-value"


def test_same_plaintext_seals_differently() -> None:
    keyring = Keyring.new()
    encryptor = Encryptor(lambda: keyring)
    first = encryptor.seal("x", project_id="p", record_id="r")
    second = encryptor.seal("x", project_id="p", record_id="r")
    assert first["nonce"] != second["nonce"]
    assert first["ct"] != second["ct"]


@pytest.mark.parametrize(("project_id", "record_id"), [("p2", "c1"), ("p1", "c2")])
def test_context_is_bound(project_id: str, record_id: str) -> None:
    keyring = Keyring.new()
    encryptor = Encryptor(lambda: keyring)
    sealed = encryptor.seal("secret", project_id="p1", record_id="c1")
    with pytest.raises(DecryptionError):
        encryptor.open(sealed, project_id=project_id, record_id=record_id)


def test_tampered_ciphertext_fails() -> None:
    keyring = Keyring.new()
    encryptor = Encryptor(lambda: keyring)
    sealed = encryptor.seal("secret", project_id="p", record_id="r")
    raw = bytearray(base64.b64decode(sealed["ct"]))
    raw[0] ^= 1
    sealed["ct"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError):
        encryptor.open(sealed, project_id="p", record_id="r")


def test_unknown_key_id_fails() -> None:
    keyring_a = Keyring.new()
    keyring_b = Keyring.new()
    encryptor_a = Encryptor(lambda: keyring_a)
    sealed = encryptor_a.seal("secret", project_id="p", record_id="r")
    with pytest.raises(DecryptionError):
        Encryptor(lambda: keyring_b).open(sealed, project_id="p", record_id="r")


def test_rotated_keyring_still_opens_old_values() -> None:
    old = Keyring.new()
    sealed = Encryptor(lambda: old).seal("secret", project_id="p", record_id="r")
    new = old.rotated()
    assert new.current_key_id != old.current_key_id
    encryptor = Encryptor(lambda: new)
    assert not encryptor.is_current(sealed)
    assert encryptor.open(sealed, project_id="p", record_id="r") == "secret"
    assert encryptor.seal("v", project_id="p", record_id="r")["kid"] == new.current_key_id


def test_keyring_json_round_trip_and_malformed() -> None:
    keyring = Keyring.new().rotated()
    assert Keyring.from_json(keyring.to_json()) == keyring
    for bad in ["", "{}", '{"currentKeyId": "a", "keys": {}}', '{"currentKeyId": "a", "keys": {"a": "c2hvcnQ="}}']:
        with pytest.raises(KeyringUnavailable):
            Keyring.from_json(bad)
    # Key bytes never show up in a repr (and so not in a log of the object).
    for key in keyring.keys.values():
        assert repr(key) not in repr(keyring)
        assert base64.b64encode(key).decode() not in repr(keyring)
