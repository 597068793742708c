"""`GET /sites/$site`: a site the token reaches."""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.representations import site_json
from wpcom_sandbox.rest import RestCall, RestRouter
from wpcom_sandbox.site_access import site_grant


def get_site(call: RestCall) -> dict[str, Any]:
    """The site object (`post_count` counts the sandbox's published posts)."""
    site = site_grant(call, "sites").site
    return site_json(site, call.api_root, call.state.content.published_count(site.site_id))


def register(router: RestRouter) -> None:
    """Add the site endpoint to a route table."""
    router.add("GET", "/sites/{site}", get_site)
