"""Who may touch a site, as WordPress.com decides it for `/sites/$site/...` endpoints.

A token is required. A single-blog token reaches its own blog only, a `global` token every site
its user owns, an `auth` token none. Granular scopes (`posts`, `media`, ...) limit a single-blog
token to the matching endpoint families; the default scope ("") is full access to the blog.
Writes also need the token's user to own the site (sandbox sites have one user, the owner).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from wpcom_sandbox.data import Site, User
from wpcom_sandbox.rest import RestCall, RestError
from wpcom_sandbox.scopes import GRANULAR_SCOPES, Access, split_scopes
from wpcom_sandbox.state import AccessToken

SITE_AUTH_REQUIRED = "An active access token must be used to access this site."
PRIVATE_BLOG = "User cannot access this private blog."


@dataclass(frozen=True)
class SiteGrant:
    """A site the request may use, the token and its user."""

    site: Site
    token: AccessToken
    user: User


def scope_message(family: str) -> str:
    """The 403 message when a token's scopes leave out an endpoint family."""
    return f"This access token's scope does not allow access to {family}."


def site_grant(call: RestCall, family: str, write_denied: str | None = None) -> SiteGrant:
    """Check the token against the `{site}` path argument for an endpoint family.

    `family` is `sites`, `posts`, `media` or `comments`; `write_denied` (e.g. "User cannot publish
    posts") marks a write and is the 403 message when the site is out of reach.
    Errors: 403 `authorization_required` (no token), 400 `invalid_token`, 404 `unknown_blog`,
    403 `unauthorized`.
    """
    token = call.require_token(SITE_AUTH_REQUIRED)
    site = call.state.find_site(unquote(call.args["site"]))
    if site is None:
        raise RestError(404, "unknown_blog", "Unknown blog")
    scopes = split_scopes(token.scope)
    if token.access is Access.AUTH:
        raise RestError(403, "unauthorized", scope_message(family))
    reaches = site.owner_id == token.user_id and (token.access is Access.GLOBAL or site.site_id == token.blog_id)
    if not reaches:
        raise RestError(403, "unauthorized", write_denied or PRIVATE_BLOG)
    granular = [scope for scope in scopes if scope in GRANULAR_SCOPES]
    if token.access is Access.SITE and granular and family not in scopes:
        raise RestError(403, "unauthorized", scope_message(family))
    user = call.state.find_user(token.user_id)
    if user is None:
        raise RestError(403, "authorization_required", "The user of this access token no longer exists.")
    return SiteGrant(site, token, user)
