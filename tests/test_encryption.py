"""AES-256-GCM sealing, context binding, and key rotation with re-encryption."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
        with pytest.raises(KeyringUnavailable, match=r"^The data-encryption keyring is malformed\.$"):
            Keyring.from_json(bad)
    # Key bytes never show up in a repr (and so not in a log of the object).
    for key in keyring.keys.values():
        assert repr(key) not in repr(keyring)
        assert base64.b64encode(key).decode() not in repr(keyring)


# A value sealed by an earlier release (fixed key and nonce): what is stored must keep opening.
GOLDEN_KEY_ID = "k20260101T000000-abcdef"
GOLDEN_SEALED: dict[str, Any] = {
    "v": 1,
    "kid": GOLDEN_KEY_ID,
    "nonce": "ZGVmZ2hpamtsbW5v",
    "ct": "PHS1S7pAtAKt1F67hn6hhX+U2IL2QnhpuA==",
}


def test_a_value_in_the_stored_format_opens() -> None:
    keyring = Keyring(GOLDEN_KEY_ID, {GOLDEN_KEY_ID: bytes(range(32))})
    encryptor = Encryptor(lambda: keyring)
    assert encryptor.open(GOLDEN_SEALED, project_id="p-1", record_id="cred-1") == "tok-é✓"
    # The stored format, spelled out: AES-GCM over UTF-8, the context as compact sorted JSON.
    aad = b'{"project":"p-1","record":"cred-1"}'
    nonce, ct = (base64.b64decode(GOLDEN_SEALED[name]) for name in ("nonce", "ct"))
    assert AESGCM(bytes(range(32))).decrypt(nonce, ct, aad) == "tok-é✓".encode()
    assert encryptor.is_current(GOLDEN_SEALED)


def test_a_sealed_value_holds_the_format_version_key_id_nonce_and_ciphertext() -> None:
    keyring = Keyring.new()
    sealed = Encryptor(lambda: keyring).seal("tok", project_id="p", record_id="r")
    assert set(sealed) == {"v", "kid", "nonce", "ct"}
    assert sealed["v"] == 1
    assert sealed["kid"] == keyring.current_key_id
    assert len(base64.b64decode(sealed["nonce"], validate=True)) == 12
    # Ciphertext plus the 16-byte tag, nothing else.
    assert len(base64.b64decode(sealed["ct"], validate=True)) == len("tok") + 16


def test_a_data_key_must_be_32_bytes() -> None:
    keyring = Keyring.new()
    for size in (16, 31, 33):
        with pytest.raises(ValueError, match=r"^A data key is 32 bytes\.$"):
            keyring.with_current("k-new", bytes(size))
    assert keyring.with_current("k-new", bytes(32)).current_key_id == "k-new"


def test_a_keyring_with_a_stray_character_in_a_key_is_malformed() -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    assert Keyring.from_json(json.dumps({"currentKeyId": "a", "keys": {"a": key}})).keys["a"] == bytes(range(32))
    # Lenient base64 would skip the '!' and decode the 32 bytes around it.
    stray = json.dumps({"currentKeyId": "a", "keys": {"a": key[:10] + "!" + key[10:]}})
    with pytest.raises(KeyringUnavailable) as raised:
        Keyring.from_json(stray)
    assert raised.value.message == "The data-encryption keyring is malformed."


class KeyringSource:
    """The stored keyring and one container's cached copy of it; a fresh read refreshes the copy.
    `before_load`, when set, runs during each cached read, after the copy is taken (to line up
    threads that all hold the stale copy)."""

    def __init__(self, keyring: Keyring) -> None:
        self.stored = keyring
        self.cached = keyring
        self.fresh_reads = 0
        self.before_load: Callable[[], object] | None = None

    def load(self) -> Keyring:
        cached = self.cached
        if self.before_load is not None:
            self.before_load()
        return cached

    def reload(self) -> Keyring:
        self.fresh_reads += 1
        self.cached = self.stored
        return self.stored

    def rotate_and_seal(self, record_id: str) -> dict[str, Any]:
        """Rotate the stored keyring (elsewhere) and seal "v" with the new key."""
        self.stored = self.stored.rotated()
        return Encryptor(lambda: self.stored).seal("v", project_id="p", record_id=record_id)


def test_each_rotation_costs_a_warm_container_one_fresh_read(caplog: pytest.LogCaptureFixture) -> None:
    source = KeyringSource(Keyring.new())
    encryptor = Encryptor(source.load, source.reload)
    for rotation in (1, 2):
        sealed = source.rotate_and_seal(f"r{rotation}")
        with caplog.at_level(logging.INFO, logger="chalicelib.adapters.encryption"):
            assert encryptor.open(sealed, project_id="p", record_id=f"r{rotation}") == "v"
            assert encryptor.open(sealed, project_id="p", record_id=f"r{rotation}") == "v"
        assert source.fresh_reads == rotation
        assert (
            caplog.messages[-1] == f"data key {sealed['kid']} is not in the cached keyring; reading the keyring again"
        )


def _open_at_once(encryptor: Encryptor, sealed: dict[str, Any], record_id: str) -> list[str]:
    """Open `sealed` in two threads at once; what they opened."""
    opened: list[str] = []
    threads = [
        threading.Thread(target=lambda: opened.append(encryptor.open(sealed, project_id="p", record_id=record_id)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return opened


def test_concurrent_opens_of_a_new_key_share_one_fresh_read() -> None:
    source = KeyringSource(Keyring.new())
    encryptor = Encryptor(source.load, source.reload)
    # Twice: the second time the container has read the keyring afresh before.
    for rotation in (1, 2):
        sealed = source.rotate_and_seal(f"r{rotation}")
        barrier = threading.Barrier(2)
        # Both calls begin (and read the stale cached keyring) before either reads afresh.
        source.before_load = lambda barrier=barrier: barrier.wait(timeout=10)
        opened = _open_at_once(encryptor, sealed, f"r{rotation}")
        source.before_load = None
        assert opened == ["v", "v"]
        assert source.fresh_reads == rotation


def test_a_new_key_id_names_its_creation_time_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    key_id = Keyring.new().current_key_id
    after = datetime.now(UTC)
    match = re.fullmatch(r"k(\d{8}T\d{6})-[0-9a-f]{6}", key_id)
    assert match, key_id
    assert before <= datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC) <= after


@pytest.mark.parametrize("field", ["nonce", "ct"])
def test_a_sealed_value_with_a_stray_character_does_not_open(field: str) -> None:
    keyring = Keyring.new()
    encryptor = Encryptor(lambda: keyring)
    sealed = encryptor.seal("secret", project_id="p", record_id="r")
    # Lenient base64 would skip the '!' and open the value as if nothing were wrong.
    sealed[field] = sealed[field][:4] + "!" + sealed[field][4:]
    with pytest.raises(DecryptionError) as raised:
        encryptor.open(sealed, project_id="p", record_id="r")
    assert raised.value.message == "A stored secret could not be decrypted."
