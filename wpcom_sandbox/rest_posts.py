"""Posts: list, get by ID or slug, create, update, and delete (trash first, then for good)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

from wpcom_sandbox.bodies import read_body
from wpcom_sandbox.content import Post
from wpcom_sandbox.dates import from_timestamp
from wpcom_sandbox.post_json import post_json
from wpcom_sandbox.post_query import list_posts
from wpcom_sandbox.post_writes import create_post, post_fields, update_post
from wpcom_sandbox.rest import RestCall, RestError, RestRouter
from wpcom_sandbox.site_access import site_grant
from wpcom_sandbox.view import View, view_for


def _view(call: RestCall, write_denied: str | None = None) -> View:
    return view_for(call, site_grant(call, "posts", write_denied))


def find_post(view: View, post_id: int) -> Post:
    """A post or page of the site, else 404 `unknown_post`."""
    post = view.store.post(view.site.site_id, post_id)
    if post is None:
        raise RestError(404, "unknown_post", "Unknown post")
    return post


def get_posts(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/posts/` (see `post_query`)."""
    view = _view(call)
    return list_posts(view, call)


def get_post(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/posts/$post_ID`."""
    view = _view(call)
    return post_json(view, find_post(view, int(call.args["post_id"])))


def get_post_by_slug(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/posts/slug:$slug`."""
    view = _view(call)
    post = view.store.post_by_slug(view.site.site_id, unquote(call.args["slug"]))
    if post is None:
        raise RestError(404, "unknown_post", "Unknown post")
    return post_json(view, post)


def new_post(call: RestCall) -> dict[str, Any]:
    """`POST /sites/$site/posts/new` (JSON, form or multipart); answers 200 with the post."""
    view = _view(call, "User cannot publish posts")
    fields = post_fields(read_body(call.request).fields)
    post = create_post(view, fields, from_timestamp(call.state.clock()))
    return post_json(view, view.store.save_post(post))


def edit_post(call: RestCall) -> dict[str, Any]:
    """`POST /sites/$site/posts/$post_ID`: change the given fields (none -> 400 `invalid_input`)."""
    view = _view(call, "User cannot edit post")
    fields = post_fields(read_body(call.request).fields)
    if not fields:
        raise RestError(400, "invalid_input", "Invalid request input")
    post = find_post(view, int(call.args["post_id"]))
    changed = update_post(view, post, fields, from_timestamp(call.state.clock()))
    return post_json(view, view.store.save_post(changed))


def delete_post(call: RestCall) -> dict[str, Any]:
    """`POST /sites/$site/posts/$post_ID/delete`: the first call trashes, the next deletes
    (answering the last state with `status: "deleted"`)."""
    view = _view(call, "User cannot delete posts")
    post = find_post(view, int(call.args["post_id"]))
    if post.status != "trash":
        now = from_timestamp(call.state.clock())
        trashed = dataclasses.replace(post, status="trash", trashed_from=post.status, modified=now)
        return post_json(view, view.store.save_post(trashed))
    body = post_json(view, post)
    view.store.delete_post(view.site.site_id, post.post_id)
    body["status"] = "deleted"
    return body


def register(router: RestRouter) -> None:
    """Add the post endpoints to a route table."""
    router.add("GET", "/sites/{site}/posts", get_posts)
    router.add("POST", "/sites/{site}/posts/new", new_post)
    router.add("GET", "/sites/{site}/posts/slug:{slug}", get_post_by_slug)
    router.add("GET", "/sites/{site}/posts/{post_id:int}", get_post)
    router.add("POST", "/sites/{site}/posts/{post_id:int}", edit_post)
    router.add("POST", "/sites/{site}/posts/{post_id:int}/delete", delete_post)
