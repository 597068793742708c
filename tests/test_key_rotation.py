"""Key rotation under load: warm containers that cached the old keyring, two rotations at once,
and the stored credentials of a real connect before and after a rotation."""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.adapters import aws, keys
from chalicelib.adapters.encryption import Keyring, KeyringUnavailable
from chalicelib.adapters.repositories import SEALED_ATTRIBUTE, SealedItems
from chalicelib.adapters.secrets import SecretStore
from chalicelib.config import get_settings
from chalicelib.domain.models import CREDENTIAL_VALID, Credential
from chalicelib.services.data_keys import rotate_data_keys
from chalicelib.wiring import Services, get_services
from tests import connect_flow
from tests.conftest import Api, ProjectHandle, SecretWatch
from wpcom_sandbox.server import WordPressSandbox


class SecretsClient:
    """The Secrets Manager client, counting reads; optionally every container's calls go
    through one lock (moto's backend is not thread-safe) and the first read waits at a barrier,
    so that concurrent rotations all read the keyring before any of them writes."""

    lock = threading.Lock()

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self._client = aws.secretsmanager()
        self._barrier = barrier
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self.lock:
                result = method(**kwargs)
            if name == "get_secret_value":
                self.reads += 1
                if self._barrier is not None and self.reads == 1:
                    self._barrier.wait(timeout=30)
            return result

        return call


def container(client: SecretsClient | None = None) -> Services:
    """Another Lambda container (or CLI process): its own caches, the same AWS account."""
    services = Services(get_settings())
    if client is not None:
        services.__dict__["secrets"] = SecretStore(lambda: client, services.settings.secret_cache_seconds)  # type: ignore[arg-type,return-value]
    # A table resource of its own: boto3 resources are not safe to share between threads.
    services.__dict__["sealed_items"] = SealedItems(boto3.resource("dynamodb").Table(services.settings.table_name))
    return services


def save_token(services: Services, project_id: str, index: int, watch: SecretWatch) -> tuple[Credential, str]:
    token = f"token-{index}-" + base64.urlsafe_b64encode(index.to_bytes(4, "big") * 8).decode()
    watch.add(token)
    credential = Credential(
        project_id=project_id,
        user_id=f"user-{index}",
        id=f"cred-{index}",
        integration_type="wordpress",
        status=CREDENTIAL_VALID,
        provider_account_id=str(index),
        provider_data={},
        scopes=(),
        uses_dev_keys=False,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    services.credentials.save(credential, {"accessToken": token})
    return credential, token


def open_token(services: Services, credential: Credential) -> str:
    (sealed,) = services.credentials.candidates(credential.project_id, credential.user_id, None, credential.id)
    return str(services.credentials.open_tokens(sealed)["accessToken"])


def test_warm_container_reads_the_keyring_again_once_after_a_rotation(aws_env: None, secret_watch: SecretWatch) -> None:
    client = SecretsClient()
    warm = container(client)
    stored = [save_token(warm, "proj-warm", i, secret_watch) for i in range(4)]
    assert all(open_token(warm, credential) == token for credential, token in stored)
    reads_before = client.reads

    report = rotate_data_keys(container().secrets, get_settings().data_keys_secret_id, container().sealed_items)
    assert report.reencrypted == 4

    # Every value now names the new key, which the warm container's cached keyring lacks.
    for credential, token in stored:
        assert open_token(warm, credential) == token
    assert client.reads - reads_before == 1  # one fresh read served all four
    # And it seals with the new current key from then on.
    fresh_credential, fresh_token = save_token(warm, "proj-warm", 9, secret_watch)
    item = (
        boto3.resource("dynamodb")
        .Table(get_settings().table_name)
        .get_item(Key=keys.credential("proj-warm", "user-9", "cred-9").as_item())["Item"]
    )
    assert item[SEALED_ATTRIBUTE]["kid"] == report.new_key_id
    assert open_token(container(), fresh_credential) == fresh_token


def test_concurrent_rotations_keep_every_key(aws_env: None, secret_watch: SecretWatch) -> None:
    first, second = container(), container()  # two warm API containers
    stored = [save_token(services, "proj-race", i, secret_watch) for i, services in enumerate([first, second] * 3)]
    for services in (first, second):
        assert [open_token(services, c) for c, _ in stored] == [t for _, t in stored]

    barrier = threading.Barrier(2)
    rotators = [container(SecretsClient(barrier)) for _ in range(2)]
    reports: list[Any] = []
    errors: list[BaseException] = []

    def rotate(services: Services) -> None:
        try:
            reports.append(
                rotate_data_keys(services.secrets, services.settings.data_keys_secret_id, services.sealed_items)
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=rotate, args=(services,)) for services in rotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(reports) == 2

    keyring = Keyring.from_json(
        boto3.client("secretsmanager").get_secret_value(SecretId=get_settings().data_keys_secret_id)["SecretString"]
    )
    assert {report.new_key_id for report in reports} <= set(keyring.keys)
    # Values written after the rotations by the containers' stale keyrings, too.
    stored += [save_token(services, "proj-race", 10 + i, secret_watch) for i, services in enumerate([first, second])]
    for services in (first, second, container()):
        assert [open_token(services, c) for c, _ in stored] == [t for _, t in stored]


def test_an_unknown_key_after_a_fresh_read_is_a_json_503(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    table = boto3.resource("dynamodb").Table(get_settings().table_name)
    key = keys.credential(project.id, "alice", credential_id).as_item()
    table.update_item(
        Key=key,
        UpdateExpression="SET #s.kid = :k",
        ExpressionAttributeNames={"#s": SEALED_ATTRIBUTE},
        ExpressionAttributeValues={":k": "k-no-such-key"},
    )
    response = api.call("GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me", token=project.token("alice"))
    assert response.status == 503
    assert response.json == {
        "message": "A stored secret was sealed with a data key this deployment does not have.",
        "code": "data_key_unknown",
    }


def _keyring_from_secrets_manager() -> Keyring:
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=get_settings().data_keys_secret_id)
    return Keyring.from_json(raw["SecretString"])


def _open_independently(item: dict[str, Any], project_id: str, credential_id: str) -> dict[str, Any]:
    """AES-256-GCM as documented, without Tether's code: key by kid, context as associated data."""
    sealed = item[SEALED_ATTRIBUTE]
    key = _keyring_from_secrets_manager().keys[sealed["kid"]]
    context = json.dumps({"project": project_id, "record": credential_id}, sort_keys=True, separators=(",", ":"))
    plaintext = AESGCM(key).decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), context.encode())
    opened: dict[str, Any] = json.loads(plaintext)
    return opened


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, (list, set, tuple)):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, (bytes, bytearray)):
        return [bytes(value).decode("latin-1")]
    return [str(value)]


def _decodings(text: str) -> list[bytes]:
    """`text` as bytes, plus every base64 (standard or URL-safe, padded or not) and hex reading
    of each run of such characters in it, at every alignment, so that an encoding of the token
    embedded anywhere in it shows."""
    forms = [text.encode("utf-8", "surrogatepass")]
    for run in re.findall(r"[A-Za-z0-9+/_=-]{4,}", text):
        run = run.replace("=", "").translate(str.maketrans("-_", "+/"))
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk + "=" * (-len(chunk) % 4)
            forms.append(base64.b64decode(chunk))
    for run in re.findall(r"[0-9A-Fa-f]{2,}", text):
        for start in range(2):
            chunk = run[start:]
            forms.append(bytes.fromhex(chunk[: len(chunk) - len(chunk) % 2]))
    return forms


def test_decodings_would_find_an_encoded_token() -> None:
    # The check below is only as good as this: every encoding at every offset is found.
    token = b"tok-ABCDEFGHIJKLMNOP"
    for prefix in (b"", b"x", b"xy", b"xyz"):
        for encoded in (
            base64.b64encode(prefix + token).decode(),
            base64.urlsafe_b64encode(prefix + token).decode().rstrip("="),
            (prefix + token).hex(),
        ):
            assert any(token in form for form in _decodings("{" + encoded + "}"))


def test_stored_credential_is_sealed_with_the_keyring(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    (issued,) = sandbox.state.issued_tokens()
    item = (
        boto3.resource("dynamodb")
        .Table(get_settings().table_name)
        .get_item(Key=keys.credential(project.id, "alice", credential_id).as_item())["Item"]
    )

    assert _open_independently(item, project.id, credential_id)["accessToken"] == issued.token
    needle = issued.token.encode()
    for text in _strings(item):
        assert not any(needle in form for form in _decodings(text)), "the raw item holds a decodable token"


def test_proxy_works_after_a_rotation_in_a_container_with_the_old_keyring(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    token = project.token("alice")
    path = f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me"
    assert api.call("GET", path, token=token).status == 200  # the API container caches the keyring
    old_kid = get_services().encryptor._load_keyring().current_key_id

    operator = container()  # `tether keys rotate`, run from the operator's machine
    report = rotate_data_keys(operator.secrets, operator.settings.data_keys_secret_id, operator.sealed_items)
    item = (
        boto3.resource("dynamodb")
        .Table(get_settings().table_name)
        .get_item(Key=keys.credential(project.id, "alice", credential_id).as_item())["Item"]
    )
    assert item[SEALED_ATTRIBUTE]["kid"] == report.new_key_id != old_kid
    assert get_services().encryptor._load_keyring().current_key_id == old_kid  # still the stale cache

    response = api.call("GET", path, token=token)
    assert response.status == 200, response.body
    (issued,) = sandbox.state.issued_tokens()
    assert _open_independently(item, project.id, credential_id)["accessToken"] == issued.token


def test_rotation_keeps_keys_found_in_the_previous_version(aws_env: None) -> None:
    # A keyring overwritten by a writer without compare-and-set (an older CLI) lost a key that
    # the previous version still has: the next rotation brings it back.
    secret_id = get_settings().data_keys_secret_id
    client = boto3.client("secretsmanager")
    before = _keyring_from_secrets_manager()
    lost = before.rotated()
    client.put_secret_value(SecretId=secret_id, SecretString=lost.to_json())
    client.put_secret_value(SecretId=secret_id, SecretString=before.rotated().to_json())
    operator = container()
    report = rotate_data_keys(operator.secrets, secret_id, operator.sealed_items)
    after = _keyring_from_secrets_manager()
    assert after.current_key_id == report.new_key_id
    assert set(before.keys) | set(lost.keys) <= set(after.keys)


class LosingWritesClient(SecretsClient):
    """Secrets Manager that acknowledges moving AWSCURRENT but does not do it."""

    def update_secret_version_stage(self, **kwargs: Any) -> dict[str, Any]:
        return {}


def test_nothing_is_reencrypted_when_the_new_key_did_not_persist(aws_env: None, secret_watch: SecretWatch) -> None:
    services = container()
    credential, token = save_token(services, "proj-lost", 1, secret_watch)
    operator = container(LosingWritesClient())
    with pytest.raises(KeyringUnavailable):
        rotate_data_keys(operator.secrets, operator.settings.data_keys_secret_id, operator.sealed_items)
    assert open_token(container(), credential) == token
