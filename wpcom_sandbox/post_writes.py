"""Creating and updating posts from request fields, following WordPress.com's v1.1 update-post
endpoint: terms by name or ID (new names are created), `categories` left empty -> the default
category, `publish` with a future date -> `future` (and back), drafts keep an empty slug.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from wpcom_sandbox.bodies import as_list
from wpcom_sandbox.content import CATEGORY, DEFAULT_CATEGORY_ID, TAG, MetaEntry, Post
from wpcom_sandbox.dates import parse_iso
from wpcom_sandbox.post_query import POST_TYPES, php_int
from wpcom_sandbox.rest import RestError
from wpcom_sandbox.text import slugify
from wpcom_sandbox.view import View

INPUT_FIELDS: tuple[str, ...] = (
    "title",
    "content",
    "excerpt",
    "date",
    "slug",
    "status",
    "sticky",
    "password",
    "parent",
    "type",
)
INPUT_FIELDS += ("categories", "tags", "format", "discussion", "likes_enabled", "sharing_enabled", "metadata")
INPUT_FIELDS += ("featured_image", "author", "menu_order")
WRITE_STATUSES = ("publish", "private", "draft", "pending", "future")
FORMATS = ("standard", "aside", "chat", "gallery", "link", "image", "quote", "status", "video", "audio")
INVALID_INPUT = "Invalid request input"


def truthy(value: Any) -> bool:
    """WordPress.com's `is_truthy` ("1", "t", "true"; JSON true)."""
    return str(value).strip().lower() in {"1", "t", "true"}


def post_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The known, non-null post fields of a request body."""
    return {name: fields[name] for name in INPUT_FIELDS if fields.get(name) is not None}


def create_post(view: View, fields: dict[str, Any], now: datetime) -> Post:
    """A new post from request fields (400 `invalid_input` without title, content and excerpt)."""
    if not any(name in fields for name in ("title", "content", "excerpt")):
        raise RestError(400, "invalid_input", INVALID_INPUT)
    post_id = view.store.reserve_id(view.site.site_id)
    blank = Post(post_id, view.site.site_id, view.viewer_id, now, now, "", status="publish")
    post = _apply(view, blank, fields, now)
    if post.post_type == "post" and not post.categories:
        post = dataclasses.replace(post, categories=(DEFAULT_CATEGORY_ID,))
    return post


def update_post(view: View, post: Post, fields: dict[str, Any], now: datetime) -> Post:
    """A post changed by request fields (400 `invalid_input` when there are none)."""
    if not fields:
        raise RestError(400, "invalid_input", INVALID_INPUT)
    return _apply(view, post, fields, now)


def _apply(view: View, post: Post, fields: dict[str, Any], now: datetime) -> Post:
    changes: dict[str, Any] = {"modified": now}
    for name in ("title", "content", "excerpt", "password"):
        if name in fields:
            changes[name] = str(fields[name])
    kind = str(fields.get("type", post.post_type))
    if kind not in POST_TYPES:
        raise RestError(404, "unknown_post_type", "Unknown post type")
    changes["post_type"] = kind
    if "author" in fields:
        changes["author_id"] = _author(view, str(fields["author"]))
    date = (parse_iso(fields["date"]) or now) if "date" in fields else post.date
    status = str(fields.get("status", post.status))
    if status not in WRITE_STATUSES:
        status = post.status
    if status in ("publish", "future"):
        status = "future" if date > now else "publish"
    changes.update(date=date, status=status)
    if "sticky" in fields:
        changes["sticky"] = truthy(fields["sticky"])
    for name in ("likes_enabled", "sharing_enabled"):
        if name in fields:
            changes[name] = truthy(fields[name])
    if "format" in fields:
        changes["format"] = str(fields["format"]) if fields["format"] in FORMATS else "standard"
    if "menu_order" in fields:
        changes["menu_order"] = php_int(str(fields["menu_order"]))
    parent = php_int(str(fields["parent"])) if "parent" in fields else post.parent
    changes["parent"] = parent if kind == "page" else 0  # only pages are hierarchical
    changes.update(_discussion(fields.get("discussion")))
    changes.update(_terms(view, kind, fields))
    if "featured_image" in fields:
        changes["featured_media"] = _featured(view, str(fields["featured_image"]).strip(), post.featured_media)
    if "metadata" in fields:
        changes["metadata"] = _metadata(view, post.metadata, fields["metadata"])
    title = changes.get("title", post.title)
    if "slug" in fields and slugify(str(fields["slug"])):
        changes["slug"] = slugify(str(fields["slug"]))
    elif not post.slug and status not in ("draft", "pending"):
        changes["slug"] = slugify(title) or str(post.post_id)
    return dataclasses.replace(post, **changes)


def _author(view: View, ref: str) -> int:
    user = view.state.find_user(ref)
    if user is None:
        raise RestError(400, "invalid_author", "Invalid author provided")
    if user.user_id != view.site.owner_id:
        raise RestError(403, "unauthorized", "Assigned author cannot publish post.")
    return user.user_id


def _discussion(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    changes: dict[str, str] = {}
    for kind in ("comment", "ping"):
        status = value.get(f"{kind}_status")
        if f"{kind}s_open" in value:
            status = "open" if truthy(value[f"{kind}s_open"]) else "closed"
        if status in ("open", "closed"):
            changes[f"{kind}_status"] = str(status)
    return changes


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split(",")
    return [str(item) for item in as_list(value)]


def _terms(view: View, kind: str, fields: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    if kind != "post":
        return {"categories": (), "tags": ()} if kind == "page" else {}
    changes: dict[str, tuple[int, ...]] = {}
    site_id = view.site.site_id
    if "categories" in fields:
        chosen = view.store.resolve_terms(site_id, CATEGORY, _refs(fields["categories"]))
        changes["categories"] = chosen or (DEFAULT_CATEGORY_ID,)
    if "tags" in fields:
        changes["tags"] = view.store.resolve_terms(site_id, TAG, _refs(fields["tags"]))
    return changes


def _featured(view: View, value: str, current: int) -> int:
    if not value:
        return 0
    if value.isdigit() and view.store.media_item(view.site.site_id, int(value)) is not None:
        return int(value)
    return current  # the sandbox does not sideload URLs


def _metadata(view: View, current: tuple[MetaEntry, ...], value: Any) -> tuple[MetaEntry, ...]:
    """Apply `[{key, value, operation (update|add|delete), id?, previous_value?}, ...]`."""
    entries = list(current)
    for item in as_list(value):
        if not isinstance(item, dict) or not (item.get("key") or item.get("id")):
            continue
        operation = str(item.get("operation") or "update")
        key, meta_id = str(item.get("key") or ""), php_int(str(item.get("id") or ""))
        new_value = item.get("value")
        new_value = (
            {"true": True, "false": False}.get(new_value, new_value) if isinstance(new_value, str) else new_value
        )

        def matches(entry: MetaEntry, key: str = key, meta_id: int = meta_id, item: dict[str, Any] = item) -> bool:
            if meta_id:
                return entry.meta_id == meta_id
            previous = item.get("previous_value")
            return entry.key == key and (previous is None or entry.value == previous)

        if operation == "delete":
            entries = [entry for entry in entries if not matches(entry)]
        elif new_value is None:
            continue
        elif operation == "update" and any(matches(entry) for entry in entries):
            entries = [dataclasses.replace(e, value=new_value) if matches(e) else e for e in entries]
        elif operation in ("update", "add") and key and not meta_id:
            entries.append(MetaEntry(view.store.next_meta_id(view.site.site_id), key, new_value))
    return tuple(entries)
