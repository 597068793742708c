"""Use cases: register, list and remove the public keys that verify a project's user tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.adapters.repositories import ProjectRepository
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import SigningKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

# cryptography's key classes are imported when a key is first parsed, not with the module (see
# `user_tokens.verify_user_token`: only user-token checks and key registration need them).
MIN_RSA_BITS = 2048
MAX_PEM_CHARS = 16 * 1024


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64url_fixed(value: int, size: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).decode("ascii").rstrip("=")


def jwk_thumbprint(key: PublicKey) -> str:
    """The RFC 7638 SHA-256 JWK thumbprint of a public key, used as its `kid`."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    else:
        point = key.public_numbers()
        members = {"crv": "P-256", "kty": "EC", "x": _b64url_fixed(point.x, 32), "y": _b64url_fixed(point.y, 32)}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode("ascii").rstrip("=")


@lru_cache(maxsize=256)
def load_public_key(pem: str) -> PublicKey:
    """Parse a PEM public key and check it is RSA >= 2048 bits or EC P-256."""
    if len(pem) > MAX_PEM_CHARS:
        raise BadRequest("publicKeyPem is too long.", code="invalid_public_key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise BadRequest(
            "publicKeyPem is not a PEM-encoded public key (expected '-----BEGIN PUBLIC KEY-----').",
            code="invalid_public_key",
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BadRequest(f"RSA keys must have at least {MIN_RSA_BITS} bits.", code="invalid_public_key")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise BadRequest("Only RSA (RS256) and EC P-256 (ES256) public keys are accepted.", code="invalid_public_key")


def register_signing_key(projects: ProjectRepository, project_id: str, public_key_pem: str) -> SigningKey:
    """Validate and store a public key; its `kid` is the key's JWK thumbprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = load_public_key(public_key_pem)
    normalised = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )
    signing_key = SigningKey(
        project_id=project_id,
        kid=jwk_thumbprint(key),
        public_key_pem=normalised,
        key_type="RSA" if isinstance(key, rsa.RSAPublicKey) else "EC",
        created_at=utc_now_iso(),
    )
    projects.add_signing_key(signing_key)
    return signing_key


def signing_key_view(key: SigningKey) -> dict[str, str]:
    """The admin API's JSON form of a signing key."""
    return {
        "kid": key.kid,
        "keyType": key.key_type,
        "alg": "RS256" if key.key_type == "RSA" else "ES256",
        "publicKeyPem": key.public_key_pem,
        "createdAt": key.created_at,
    }
