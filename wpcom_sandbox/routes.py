"""The REST route table the sandbox serves; add new endpoint modules here."""

from __future__ import annotations

from wpcom_sandbox import rest_comments, rest_likes, rest_me, rest_media, rest_posts, rest_sites
from wpcom_sandbox.rest import RestRouter


def default_router() -> RestRouter:
    """Every REST endpoint the sandbox implements."""
    router = RestRouter()
    for module in (rest_me, rest_sites, rest_posts, rest_likes, rest_comments, rest_media):
        module.register(router)
    return router
