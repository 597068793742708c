"""Use case: verify an end user's token (a JWT signed by the customer's backend)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.models import ProjectConfig, SigningKey
from chalicelib.services.signing_keys import load_public_key

ALGORITHM_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
MAX_TOKEN_CHARS = 8192
MAX_USER_ID_CHARS = 256


@dataclass(frozen=True)
class VerifiedUser:
    """The identity a valid user token proves."""

    project_id: str
    user_id: str
    claims: dict[str, Any]


def verify_user_token(config: ProjectConfig, token: str, leeway_seconds: int) -> VerifiedUser:
    """Verify signature, algorithm and expiry against the project's registered keys.

    Only RS256 and ES256 are accepted; `exp` and `sub` are required. A `kid` in the header
    selects one key; without one, each registered key of the right type is tried.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("The user token is too long.", code="invalid_token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized("The user token is not a well-formed JWT.", code="invalid_token") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHM_KEY_TYPES:
        raise Unauthorized("User tokens must be signed with RS256 or ES256.", code="unsupported_algorithm")
    candidates = _candidate_keys(config.signing_keys, header.get("kid"), ALGORITHM_KEY_TYPES[str(algorithm)])
    for key in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=load_public_key(key.public_key_pem),
                algorithms=[str(algorithm)],
                leeway=leeway_seconds,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The user token has expired.", code="token_expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("The user token is not valid yet.", code="token_not_yet_valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"The user token lacks the '{exc.claim}' claim.", code="invalid_token") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The user token is not valid.", code="invalid_token") from None
        return VerifiedUser(config.project.id, _user_id(claims), claims)
    raise Unauthorized("The user token is not signed by a key registered for this project.", code="invalid_signature")


def _candidate_keys(keys: tuple[SigningKey, ...], kid: object, key_type: str) -> list[SigningKey]:
    if kid is not None:
        selected = [key for key in keys if key.kid == kid]
        if not selected:
            raise Unauthorized("The user token's 'kid' is not registered for this project.", code="unknown_kid")
    else:
        selected = list(keys)
    matching = [key for key in selected if key.key_type == key_type]
    if not matching:
        raise Unauthorized("No registered key of this project can verify the user token.", code="invalid_signature")
    return matching


def _user_id(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_ID_CHARS:
        raise Unauthorized(
            f"The 'sub' claim must be a string of 1 to {MAX_USER_ID_CHARS} characters.", code="invalid_token"
        )
    if any(ord(ch) < 32 for ch in sub):
        raise Unauthorized("The 'sub' claim contains control characters.", code="invalid_token")
    return sub
