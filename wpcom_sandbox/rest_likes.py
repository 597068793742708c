"""`GET /sites/$site/posts/$post_ID/likes/`: who liked a post."""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.dates import format_mysql
from wpcom_sandbox.rest import RestCall, RestRouter
from wpcom_sandbox.rest_posts import find_post
from wpcom_sandbox.site_access import site_grant
from wpcom_sandbox.view import view_for


def get_likes(call: RestCall) -> dict[str, Any]:
    """The likes of a post, newest first (`date_liked` is UTC, `YYYY-MM-DD HH:MM:SS`)."""
    view = view_for(call, site_grant(call, "posts"))
    post = find_post(view, int(call.args["post_id"]))
    likes = []
    for like in view.store.likes(view.site.site_id, post.post_id):
        user = call.state.find_user(like.user_id)
        if user is None:
            continue
        likes.append(
            {
                "ID": user.user_id,
                "login": user.username,
                "name": user.display_name,
                "avatar_URL": user.avatar_url,
                "profile_URL": user.profile_url,
                "site_ID": user.primary_blog,
                "date_liked": format_mysql(like.date),
            }
        )
    return {
        "found": len(likes),
        "i_like": any(like["ID"] == view.viewer_id for like in likes),
        "can_like": post.likes_enabled,
        "site_ID": view.site.site_id,
        "post_ID": post.post_id,
        "likes": likes,
    }


def register(router: RestRouter) -> None:
    """Add the likes endpoint to a route table."""
    router.add("GET", "/sites/{site}/posts/{post_id:int}/likes", get_likes)
