"""Signs user tokens the way a customer's backend would (RS256/ES256 JWT with sub, iat, exp)."""

from __future__ import annotations

import time
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from chalicelib.services.signing_keys import jwk_thumbprint


def generate_rsa_private_key_pem() -> str:
    """A fresh 2048-bit RSA private key, PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_pem(private_key_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a private key."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def sign_user_token(private_key_pem: str, user_id: str, ttl_seconds: int = 3600, include_kid: bool = True) -> str:
    """A user token for `user_id`, valid for `ttl_seconds`, signed with the given private key."""
    key = _private_key(private_key_pem)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = "ES256"
    else:
        raise ValueError("only RSA and EC P-256 private keys can sign user tokens")
    now = int(time.time())
    headers = {"kid": jwk_thumbprint(key.public_key())} if include_kid else None
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + ttl_seconds}, key, algorithm=algorithm, headers=headers)


@lru_cache(maxsize=16)
def _private_key(private_key_pem: str) -> PrivateKeyTypes:
    """The parsed key (parsing checks an RSA key's consistency, which costs far more than signing)."""
    return serialization.load_pem_private_key(private_key_pem.encode(), password=None)
