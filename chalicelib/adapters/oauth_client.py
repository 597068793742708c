"""A generic OAuth 2 client (authorization code, PKCE S256, refresh, token-info), driven by the
provider catalogue. Provider error text never carries a secret back to the caller."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalicelib.adapters.http_client import http_session
from chalicelib.domain.errors import TetherError
from chalicelib.domain.providers import Provider

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT_SECONDS = 3.05
MAX_ERROR_TEXT = 300


class OAuthProviderError(TetherError):
    """The provider answered the token request with an OAuth error (e.g. invalid_grant)."""

    status = 400
    code = "oauth_error"


class ProviderUnavailable(TetherError):
    """The provider failed: 5xx, a non-JSON answer, or no answer in time."""

    status = 502
    code = "provider_unavailable"


@dataclass(frozen=True)
class ClientCredentials:
    """The OAuth client Tether authenticates as."""

    client_id: str
    client_secret: str = field(repr=False)
    uses_dev_keys: bool


@dataclass(frozen=True)
class TokenSet:
    """A token response. `extra` keeps provider-specific fields listed in the catalogue."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int | None
    scope: str | None
    extra: dict[str, Any]

    def secret_part(self) -> dict[str, Any]:
        """What gets encrypted at rest."""
        return {"accessToken": self.access_token, "refreshToken": self.refresh_token, "expiresIn": self.expires_in}


def new_pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(
    provider: Provider,
    origin: str,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    code_challenge: str | None = None,
) -> str:
    """The provider's consent page URL for an authorization-code flow."""
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "state": state}
    if scopes:
        params["scope"] = provider.scope_separator.join(scopes)
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    return provider.authorize_url(origin) + "?" + urlencode(params)


def exchange_code(
    provider: Provider,
    origin: str,
    client: ClientCredentials,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    timeout: float,
) -> TokenSet:
    """Trade an authorization code for tokens."""
    form = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": redirect_uri,
        "code": code,
        "grant_type": "authorization_code",
    }
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return _token_request(provider, origin, form, timeout)


def refresh_tokens(
    provider: Provider, origin: str, client: ClientCredentials, refresh_token: str, timeout: float
) -> TokenSet:
    """Use a refresh token (for providers that issue them)."""
    form = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    return _token_request(provider, origin, form, timeout)


def token_is_active(provider: Provider, origin: str, client_id: str, access_token: str, timeout: float) -> bool | None:
    """Ask the provider's token-info endpoint whether the token is good.

    True on a 200; False only on an explicit rejection of the token (400/401 with one of the
    provider's `token_info_rejections` errors); None, meaning unknown, for anything else: no
    endpoint, no answer, throttling (429), 404/408, 5xx, an unknown client or an unclear body.
    """
    url = provider.token_info_url(origin)
    if url is None:
        return None
    try:
        response = _call_provider(provider, "GET", url, timeout, params={"client_id": client_id, "token": access_token})
    except ProviderUnavailable:
        return None
    if response.status_code == 200:
        return True
    if response.status_code in (400, 401):
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str) and error in provider.token_info_rejections:
            return False
    return None


def _call_provider(provider: Provider, method: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    """One request to the provider; transport failures become ProviderUnavailable."""
    import requests

    try:
        return http_session().request(method, url, timeout=(CONNECT_TIMEOUT_SECONDS, timeout), **kwargs)
    except requests.Timeout:
        raise ProviderUnavailable(f"{provider.service_name} did not answer in time.", code="provider_timeout") from None
    except requests.RequestException:
        raise ProviderUnavailable(f"{provider.service_name} could not be reached.") from None


def fetch_account(provider: Provider, origin: str, access_token: str, timeout: float) -> dict[str, Any]:
    """The account the token belongs to (e.g. WordPress.com `/me`)."""
    response = _call_provider(
        provider,
        "GET",
        provider.account_url(origin),
        timeout,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict) or provider.account_id_field not in body:
        if response.status_code < 500 and isinstance(body, dict) and body.get("error"):
            raise OAuthProviderError(
                f"{provider.service_name} refused the new token: {_text(body.get('message') or body.get('error'))}",
                code="account_lookup_failed",
            )
        raise ProviderUnavailable(
            f"{provider.service_name} answered the account lookup with status {response.status_code}."
        )
    return body


def _token_request(provider: Provider, origin: str, form: dict[str, str], timeout: float) -> TokenSet:
    response = _call_provider(
        provider, "POST", provider.token_url(origin), timeout, data=form, headers={"Accept": "application/json"}
    )
    body = _json_or_none(response)
    if response.status_code >= 500 or not isinstance(body, dict):
        raise ProviderUnavailable(
            f"{provider.service_name}'s token endpoint failed (status {response.status_code}"
            + (")." if isinstance(body, dict) else ", not JSON).")
        )
    if response.status_code != 200 or "error" in body:
        error = _text(body.get("error") or "invalid_response")
        description = _text(body.get("error_description") or "")
        raise OAuthProviderError(
            f"{provider.service_name} refused the authorization: {error}"
            + (f" ({description})" if description else "."),
            code=f"oauth_{error}" if error.replace("_", "").isalnum() else "oauth_error",
        )
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ProviderUnavailable(f"{provider.service_name}'s token response has no access_token.")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit() and len(expires_in) < 12:
        expires_in = int(expires_in)
    scope = body.get("scope")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_in=expires_in if isinstance(expires_in, int) else None,
        scope=scope if isinstance(scope, str) else None,
        extra={name: body.get(name) for name in provider.token_data_fields if name in body},
    )


def _json_or_none(response: Any) -> Any:
    """The provider's JSON body, or None when it is not JSON Tether can store and send back
    (malformed, too deep, huge integers, NaN or Infinity)."""
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json(parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(value: Any) -> str:
    return str(value)[:MAX_ERROR_TEXT]
