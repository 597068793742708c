"""REST endpoints about the token's user: `GET /me` and `GET /me/sites`."""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.representations import me_json, site_json
from wpcom_sandbox.rest import RestCall, RestError, RestRouter
from wpcom_sandbox.scopes import Access

SITES_NOT_IN_SCOPE = "This access token's scope does not allow access to sites."


def get_me(call: RestCall) -> dict[str, Any]:
    """`GET /me`: the user the token belongs to."""
    token = call.require_token()
    user = call.state.find_user(token.user_id)
    if user is None:
        raise RestError(403, "authorization_required", "The user of this access token no longer exists.")
    sites = call.state.sites_of(user.user_id)
    primary = next((site for site in sites if site.site_id == user.primary_blog), None)
    return me_json(user, token, sites, primary, call.api_root)


def get_my_sites(call: RestCall) -> dict[str, Any]:
    """`GET /me/sites`: all the user's sites for a global token, the token's site otherwise.

    `site_visibility` is `all` (default), `visible` or `hidden`; an auth-only token gets 403.
    """
    token = call.require_token()
    if token.access is Access.AUTH:
        raise RestError(403, "unauthorized", SITES_NOT_IN_SCOPE)
    sites = call.state.sites_of(token.user_id)
    if token.access is Access.SITE:
        sites = [site for site in sites if site.site_id == token.blog_id]
    visibility = call.arg("site_visibility") or "all"
    if visibility == "visible":
        sites = [site for site in sites if site.visible]
    elif visibility == "hidden":
        sites = [site for site in sites if not site.visible]
    content = call.state.content
    return {"sites": [site_json(site, call.api_root, content.published_count(site.site_id)) for site in sites]}


def register(router: RestRouter) -> None:
    """Add the /me endpoints to a route table."""
    router.add("GET", "/me", get_me)
    router.add("GET", "/me/sites", get_my_sites)
