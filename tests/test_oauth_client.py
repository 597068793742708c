"""The generic OAuth 2 client: PKCE, refresh tokens and error mapping (against the sandbox)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.adapters.oauth_client import (
    ClientCredentials,
    OAuthProviderError,
    ProviderUnavailable,
    authorize_url,
    exchange_code,
    new_pkce_pair,
    refresh_tokens,
)
from chalicelib.domain.providers import WORDPRESS
from wpcom_sandbox.server import WordPressSandbox

CLIENT = ClientCredentials("123", "not-the-real-secret", uses_dev_keys=False)


@pytest.fixture
def sandbox() -> Iterator[WordPressSandbox]:
    server = WordPressSandbox()
    server.start()
    yield server
    server.stop()


def test_pkce_pair_is_s256() -> None:
    verifier, challenge = new_pkce_pair()
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert challenge == expected
    assert 43 <= len(verifier) <= 128


def test_authorize_url_carries_scopes_state_and_challenge() -> None:
    url = authorize_url(WORDPRESS, "https://example.test", "123", "https://t/cb", ("posts", "media"), "st", "ch")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == "/oauth2/authorize"
    assert query == {
        "client_id": "123",
        "redirect_uri": "https://t/cb",
        "response_type": "code",
        "state": "st",
        "scope": "posts media",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }


def test_refresh_token_response_is_parsed(sandbox: WordPressSandbox) -> None:
    sandbox.state.fail_next(
        "/oauth2/token",
        200,
        {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": "3600", "scope": "posts"},
    )
    tokens = refresh_tokens(WORDPRESS, sandbox.origin, CLIENT, "old-refresh", 2.0)
    assert tokens.access_token == "new-access"
    assert tokens.refresh_token == "new-refresh"
    assert tokens.expires_in == 3600
    [request] = sandbox.state.recorded_requests("/oauth2/token")
    assert request.method == "POST"


def test_provider_oauth_error_is_mapped_and_truncated(sandbox: WordPressSandbox) -> None:
    sandbox.state.fail_next("/oauth2/token", 400, {"error": "invalid_grant", "error_description": "x" * 1000})
    with pytest.raises(OAuthProviderError) as raised:
        exchange_code(WORDPRESS, sandbox.origin, CLIENT, "code", "https://t/cb", None, 2.0)
    assert raised.value.code == "oauth_invalid_grant"
    assert len(raised.value.message) < 400
    assert CLIENT.client_secret not in raised.value.message


def test_unreachable_provider(sandbox: WordPressSandbox) -> None:
    origin = sandbox.origin
    sandbox.stop()
    with pytest.raises(ProviderUnavailable):
        exchange_code(WORDPRESS, origin, CLIENT, "code", "https://t/cb", None, 1.0)
