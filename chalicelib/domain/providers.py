"""The provider catalogue: every integration Tether knows, as data.

A second OAuth 2 provider is a new `Provider` entry (plus tests), not new code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import NotFound


@dataclass(frozen=True)
class Provider:
    """Static facts about one integration type."""

    type: str
    name: str
    brand_color: str
    default_scopes: tuple[str, ...]
    scope_separators: tuple[str, ...]
    authorize_path: str
    token_path: str
    token_info_path: str | None
    api_path: str
    supports_pkce: bool
    issues_refresh_tokens: bool

    def authorize_url(self, origin: str) -> str:
        """The consent page URL at the given provider origin."""
        return origin.rstrip("/") + self.authorize_path

    def token_url(self, origin: str) -> str:
        """The code/refresh token endpoint at the given provider origin."""
        return origin.rstrip("/") + self.token_path

    def api_base_url(self, origin: str) -> str:
        """The API origin plus base path every proxied call stays under."""
        return origin.rstrip("/") + self.api_path


WORDPRESS = Provider(
    type="wordpress",
    name="WordPress",
    brand_color="#21759B",
    default_scopes=(),
    scope_separators=(" ", ","),
    authorize_path="/oauth2/authorize",
    token_path="/oauth2/token",  # noqa: S106 - a URL path, not a password
    token_info_path="/oauth2/token-info",  # noqa: S106 - a URL path
    api_path="/",
    supports_pkce=False,
    issues_refresh_tokens=False,
)

CATALOGUE: dict[str, Provider] = {WORDPRESS.type: WORDPRESS}


def get_provider(integration_type: str) -> Provider:
    """Look up a provider by integration type, or raise NotFound."""
    provider = CATALOGUE.get(integration_type)
    if provider is None:
        raise NotFound(f"Unknown integration type '{integration_type}'.", code="unknown_integration")
    return provider
