"""Use case: verify an end user's token (a JWT signed by the customer's backend)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.models import ProjectConfig, SigningKey
from chalicelib.domain.validation import has_control_characters, has_unpaired_surrogate
from chalicelib.services.signing_keys import load_public_key

ALGORITHM_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
MAX_TOKEN_CHARS = 8192
MAX_USER_ID_CHARS = 256
DEFAULT_MAX_LIFETIME_SECONDS = 24 * 3600


@dataclass(frozen=True)
class TokenRules:
    """The deployment's limits on user tokens."""

    leeway_seconds: int
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS


@dataclass(frozen=True)
class VerifiedUser:
    """The identity a valid user token proves."""

    project_id: str
    user_id: str
    claims: dict[str, Any]


def verify_user_token(config: ProjectConfig, token: str, rules: TokenRules, now: float) -> VerifiedUser:
    """Verify signature, algorithm, expiry, audience and lifetime against the project's keys.

    Only RS256 and ES256 are accepted; `exp` and `sub` are required. A `kid` in the header
    selects one key; without one, each registered key of the right type is tried. An `aud`
    claim, when present, must name this project (a string, or a list holding it); a project
    may require it. The token's
    lifetime `exp - iat` may not exceed `rules.max_lifetime_seconds`; a token without `iat`
    may not stay valid longer than that from now.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("The user token is too long.", code="invalid_token")
    if not token.isascii():
        # A JWT is base64url and dots; anything else (a lone surrogate included) is not one.
        raise Unauthorized("The user token is not a well-formed JWT.", code="invalid_token")
    # Imported here, not with the module: PyJWT and the parts of cryptography it loads cost
    # ~40 ms, and `app` is also the step runner's and the schedule dispatcher's entry point,
    # which never verify a user token (nor do the admin, webhook and OAuth callback routes).
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized("The user token is not a well-formed JWT.", code="invalid_token") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHM_KEY_TYPES:
        raise Unauthorized("User tokens must be signed with RS256 or ES256.", code="unsupported_algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise Unauthorized("The user token's 'kid' must be a string.", code="invalid_token")
    for key in _candidate_keys(config.signing_keys, kid, ALGORITHM_KEY_TYPES[algorithm]):
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=load_public_key(key.public_key_pem),
                algorithms=[algorithm],
                leeway=rules.leeway_seconds,
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
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
            raise Unauthorized("The user token is not valid.", code="invalid_token") from None
        _check_audience(claims, config.project.id, config.project.require_token_audience)
        _check_lifetime(claims, rules.max_lifetime_seconds, now)
        return VerifiedUser(config.project.id, _user_id(claims), claims)
    raise Unauthorized("The user token is not signed by a key registered for this project.", code="invalid_signature")


def _check_audience(claims: dict[str, Any], project_id: str, required: bool) -> None:
    if "aud" not in claims:
        if required:
            raise Unauthorized(
                "This project requires user tokens to carry an 'aud' claim naming the project.",
                code="invalid_audience",
            )
        return
    audience = claims["aud"]
    named = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if project_id not in [value for value in named if isinstance(value, str)]:
        raise Unauthorized("The user token's 'aud' claim does not name this project.", code="invalid_audience")


def _check_lifetime(claims: dict[str, Any], max_seconds: int, now: float) -> None:
    # PyJWT has checked that `exp` (and `iat`, when present) are whole numbers.
    start = claims.get("iat", now)
    if int(claims["exp"]) - int(start) > max_seconds:
        raise Unauthorized(
            f"The user token is valid for longer than {max_seconds} seconds; sign shorter-lived tokens.",
            code="token_lifetime_too_long",
        )


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
    if has_control_characters(sub):
        raise Unauthorized("The 'sub' claim contains control characters.", code="invalid_token")
    if has_unpaired_surrogate(sub):
        raise Unauthorized("The 'sub' claim is not valid Unicode (an unpaired surrogate).", code="invalid_token")
    return sub
