"""`GET /sites/$site/comments/` and `GET /sites/$site/posts/$post_ID/replies/`.

Parameters as on WordPress.com: `number` (20, at most 100), `offset`, `page`, `order` (DESC/ASC),
`status` (approved by default; unapproved, spam, trash, all), `type` (any, comment, pingback,
trackback, pings), `after` / `before` (inclusive).
"""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.content import Comment
from wpcom_sandbox.dates import parse_iso
from wpcom_sandbox.post_query import page_size, php_int
from wpcom_sandbox.rest import RestCall, RestRouter
from wpcom_sandbox.rest_posts import find_post
from wpcom_sandbox.site_access import site_grant
from wpcom_sandbox.text import autop
from wpcom_sandbox.view import View, author_json, guest_json, permalink, shortlink, view_for

STATUSES = ("approved", "unapproved", "spam", "trash")


def comment_json(view: View, comment: Comment) -> dict[str, Any] | None:
    """A comment (None when its post is gone)."""
    post = view.store.post(view.site.site_id, comment.post_id)
    if post is None:
        return None
    if comment.user_id:
        author = author_json(view, comment.user_id, view.can_edit)
    else:
        author = guest_json(comment.author_name, comment.author_email, comment.author_url, view.can_edit)
    parent: dict[str, Any] | bool = False
    if comment.parent:
        parent = {"ID": comment.parent, "type": "comment", "link": view.link(f"/comments/{comment.parent}")}
    link = view.link(f"/comments/{comment.comment_id}")
    return {
        "ID": comment.comment_id,
        "post": {
            "ID": post.post_id,
            "title": post.title,
            "type": post.post_type,
            "link": view.link(f"/posts/{post.post_id}"),
        },
        "author": author,
        "date": view.date(comment.date),
        "URL": f"{permalink(view, post)}#comment-{comment.comment_id}",
        "short_URL": f"{shortlink(view, post)}%23comment-{comment.comment_id}",
        "content": comment.content if view.edit else autop(comment.content),
        "raw_content": comment.content,
        "status": comment.status,
        "parent": parent,
        "type": comment.comment_type,
        "like_count": comment.like_count,
        "i_like": False,
        "meta": {
            "links": {
                "self": link,
                "help": f"{link}/help",
                "site": view.link(),
                "post": view.link(f"/posts/{post.post_id}"),
                "replies": f"{link}/replies/",
                "likes": f"{link}/likes/",
            }
        },
        "can_moderate": view.can_edit,
    }


def _matches(call: RestCall, comment: Comment) -> bool:
    status = call.arg("status") if call.arg("status") in (*STATUSES, "all") else "approved"
    if status != "all" and comment.status != status:
        return False
    kind = call.arg("type") or "any"
    wanted = {"pings": ("pingback", "trackback")}.get(kind, (kind,))
    if kind != "any" and comment.comment_type not in wanted:
        return False
    after, before = parse_iso(call.arg("after")), parse_iso(call.arg("before"))
    return (after is None or comment.date >= after) and (before is None or comment.date <= before)


def list_comments(call: RestCall, view: View, post_id: int | None) -> dict[str, Any]:
    """The `{"found", "site_ID", "comments"}` answer, optionally for one post."""
    number = page_size(call)
    if call.arg("page") is not None:
        offset = (max(php_int(call.arg("page")), 1) - 1) * number
    else:
        offset = max(php_int(call.arg("offset")), 0)
    comments = [
        comment
        for comment in view.store.comments(view.site.site_id)
        if (post_id is None or comment.post_id == post_id) and _matches(call, comment)
    ]
    ascending = (call.arg("order") or "DESC").upper() == "ASC"
    comments.sort(key=lambda comment: (comment.date, comment.comment_id), reverse=not ascending)
    rendered = [comment_json(view, comment) for comment in comments[offset : offset + number]]
    return {"found": len(comments), "site_ID": view.site.site_id, "comments": [c for c in rendered if c]}


def get_comments(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/comments/`."""
    view = view_for(call, site_grant(call, "comments"))
    return list_comments(call, view, None)


def get_replies(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/posts/$post_ID/replies/` (404 `unknown_post`)."""
    view = view_for(call, site_grant(call, "comments"))
    post = find_post(view, int(call.args["post_id"]))
    return list_comments(call, view, post.post_id)


def register(router: RestRouter) -> None:
    """Add the comment endpoints to a route table."""
    router.add("GET", "/sites/{site}/comments", get_comments)
    router.add("GET", "/sites/{site}/posts/{post_id:int}/replies", get_replies)
