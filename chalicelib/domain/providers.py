"""The provider catalogue: every integration Tether knows, as data.

A second OAuth 2 provider is a new `Provider` entry (plus tests), not new code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import NotFound


@dataclass(frozen=True)
class ApiPaths:
    """How a proxy path maps onto the provider's API: a first segment in `versions` gets
    `versioned_prefix` before it; `<namespace>/v<N>/...` passes as is; anything else gets
    `default_prefix`."""

    versions: frozenset[str] = frozenset()
    versioned_prefix: tuple[str, ...] = ()
    namespaces: frozenset[str] = frozenset()
    default_prefix: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provider:
    """Static facts about one integration type. Paths are relative to the configured origin.

    `name` is what the SDK lists; `service_name` is what messages to people call it."""

    type: str
    name: str
    service_name: str
    brand_color: str
    default_scopes: tuple[str, ...]
    scope_separator: str
    authorize_path: str
    token_path: str
    token_info_path: str | None
    account_path: str
    account_id_field: str
    account_data_fields: tuple[str, ...]
    token_data_fields: tuple[str, ...]
    supports_pkce: bool
    issues_refresh_tokens: bool
    api_paths: ApiPaths
    invalid_token_errors: frozenset[str]
    # `error` values with which token-info (answering 400/401) says the token itself is no good.
    token_info_rejections: frozenset[str] = frozenset({"invalid_token"})
    # The scopes a project may ask for (anything else is refused when the settings are stored).
    known_scopes: frozenset[str] = frozenset()

    def authorize_url(self, origin: str) -> str:
        """The consent page URL at the given provider origin."""
        return origin.rstrip("/") + self.authorize_path

    def token_url(self, origin: str) -> str:
        """The code/refresh token endpoint at the given provider origin."""
        return origin.rstrip("/") + self.token_path

    def account_url(self, origin: str) -> str:
        """The endpoint that names the account a token belongs to."""
        return origin.rstrip("/") + self.account_path

    def token_info_url(self, origin: str) -> str | None:
        """The token introspection endpoint, if the provider has one."""
        return None if self.token_info_path is None else origin.rstrip("/") + self.token_info_path

    def split_scopes(self, raw: str | None) -> tuple[str, ...]:
        """Granted scopes from a token response; providers use spaces or commas."""
        if not raw:
            return ()
        return tuple(part for part in raw.replace(",", " ").split() if part)


WORDPRESS = Provider(
    type="wordpress",
    name="WordPress",
    service_name="WordPress.com",
    brand_color="#21759B",
    default_scopes=(),
    scope_separator=" ",
    authorize_path="/oauth2/authorize",
    token_path="/oauth2/token",  # noqa: S106 - a URL path, not a password
    token_info_path="/oauth2/token-info",  # noqa: S106 - a URL path
    account_path="/rest/v1.1/me",
    account_id_field="ID",
    account_data_fields=("username", "display_name", "primary_blog", "primary_blog_url"),
    token_data_fields=("blog_id", "blog_url"),
    supports_pkce=False,
    issues_refresh_tokens=False,
    api_paths=ApiPaths(
        versions=frozenset({"v1", "v1.1", "v1.2", "v1.3"}),
        versioned_prefix=("rest",),
        namespaces=frozenset({"wp", "wpcom"}),
        default_prefix=("rest", "v1.1"),
    ),
    invalid_token_errors=frozenset({"invalid_token", "authorization_required"}),
    # token-info answers an unknown or revoked token with 400 `invalid_request` ("The specified
    # token is invalid."); an unknown client is `invalid_client`, which says nothing of the token.
    token_info_rejections=frozenset({"invalid_token", "invalid_request"}),
    # https://developer.wordpress.com/docs/oauth2/: `global` (every site of the user), `auth` (the
    # profile only) and the granular ones, each one part of the REST API on the picked site.
    known_scopes=frozenset(
        {
            "global",
            "auth",
            "users",
            "sites",
            "posts",
            "comments",
            "taxonomy",
            "follow",
            "sharing",
            "freshly-pressed",
            "notifications",
            "insights",
            "read",
            "stats",
            "media",
            "menus",
            "batch",
            "videos",
        }
    ),
)

CATALOGUE: dict[str, Provider] = {WORDPRESS.type: WORDPRESS}


def get_provider(integration_type: str) -> Provider:
    """Look up a provider by integration type, or raise NotFound."""
    provider = CATALOGUE.get(integration_type)
    if provider is None:
        raise NotFound(f"Unknown integration type '{integration_type[:64]}'.", code="unknown_integration")
    return provider
