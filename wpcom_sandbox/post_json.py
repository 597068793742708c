"""JSON shapes of posts and their terms, as the v1.1 API renders them."""

from __future__ import annotations

import hashlib
from typing import Any

from wpcom_sandbox.content import CATEGORY, Post, Term
from wpcom_sandbox.media_json import attachment_json, media_json
from wpcom_sandbox.text import autop, trim_words
from wpcom_sandbox.view import View, author_json, permalink, shortlink


def term_json(view: View, term: Term) -> dict[str, Any]:
    """A category or tag (categories also carry `parent`)."""
    kind = "categories" if term.taxonomy == CATEGORY else "tags"
    body: dict[str, Any] = {
        "ID": term.term_id,
        "name": term.name,
        "slug": term.slug,
        "description": term.description,
        "post_count": view.store.term_post_count(view.site.site_id, term.term_id),
    }
    if term.taxonomy == CATEGORY:
        body["parent"] = term.parent
    body["meta"] = {
        "links": {
            "self": view.link(f"/{kind}/slug:{term.slug}"),
            "help": view.link(f"/{kind}/slug:{term.slug}/help"),
            "site": view.link(),
        }
    }
    return body


def _terms(view: View, term_ids: tuple[int, ...]) -> dict[str, Any]:
    terms = [view.store.term(view.site.site_id, term_id) for term_id in term_ids]
    return {term.name: term_json(view, term) for term in terms if term is not None}


def _parent(view: View, post: Post) -> dict[str, Any] | bool:
    parent = view.store.post(view.site.site_id, post.parent) if post.parent else None
    if parent is None:
        return False
    link = view.link(f"/posts/{parent.post_id}")
    return {"ID": parent.post_id, "type": parent.post_type, "link": link, "title": parent.title}


def post_json(view: View, post: Post) -> dict[str, Any]:
    """A post or page; `view.edit` gives raw content and the author's e-mail."""
    site_id = view.site.site_id
    store = view.store
    likes = store.likes(site_id, post.post_id)
    approved = [c for c in store.comments(site_id) if c.post_id == post.post_id and c.status == "approved"]
    attachments = store.media_of_post(site_id, post.post_id)
    featured = store.media_item(site_id, post.featured_media) if post.featured_media else None
    metadata = [{"id": str(entry.meta_id), "key": entry.key, "value": entry.value} for entry in post.metadata]
    raw_excerpt = post.excerpt or trim_words(post.content)
    return {
        "ID": post.post_id,
        "site_ID": site_id,
        "author": author_json(view, post.author_id, view.edit and view.can_edit),
        "date": view.date(post.date),
        "modified": view.date(post.modified),
        "title": post.title,
        "URL": permalink(view, post),
        "short_URL": shortlink(view, post),
        "content": post.content if view.edit else autop(post.content),
        "excerpt": post.excerpt if view.edit else autop(raw_excerpt),
        "slug": post.slug,
        "guid": f"{view.site.url}/?p={post.post_id}",
        "status": post.status,
        "sticky": post.sticky,
        "password": post.password,
        "parent": _parent(view, post),
        "type": post.post_type,
        "discussion": {
            "comments_open": post.comment_status == "open",
            "comment_status": post.comment_status,
            "pings_open": post.ping_status == "open",
            "ping_status": post.ping_status,
            "comment_count": len(approved),
        },
        "likes_enabled": post.likes_enabled,
        "sharing_enabled": post.sharing_enabled,
        "like_count": len(likes),
        "i_like": any(like.user_id == view.viewer_id for like in likes),
        "is_reblogged": False,
        "is_following": True,
        "global_ID": hashlib.md5(f"{site_id}-{post.post_id}".encode(), usedforsecurity=False).hexdigest(),
        "featured_image": view.file_url(featured.path) if featured else "",
        "post_thumbnail": attachment_json(view, featured) if featured else None,
        "format": post.format,
        "geo": False,
        "menu_order": post.menu_order,
        "publicize_URLs": [],
        "tags": _terms(view, post.tags),
        "categories": _terms(view, post.categories),
        "attachments": {str(item.media_id): media_json(view, item) for item in attachments[:20]},
        "attachment_count": len(attachments),
        "metadata": metadata or False,
        "meta": {
            "links": {
                "self": view.link(f"/posts/{post.post_id}"),
                "help": view.link(f"/posts/{post.post_id}/help"),
                "site": view.link(),
                "replies": view.link(f"/posts/{post.post_id}/replies/"),
                "likes": view.link(f"/posts/{post.post_id}/likes/"),
            }
        },
        "capabilities": {"publish_post": view.can_edit, "delete_post": view.can_edit, "edit_post": view.can_edit},
    }
