"""`GET /sites/$site/posts/`: query parameters, filtering, ordering, pages and page handles,
following WordPress.com's v1.1 list-posts endpoint.

`number` is read as PHP's `(int)`: below 1 (or not a number) means 20, above 100 is 400
`invalid_number`. `page` wins over `offset`. `meta.next_page` (`value=...&id=...`, the sort value
and ID of the last post) is given when more posts remain and neither a page past the first nor a
non-zero offset was asked for; passing it back as `page_handle` continues after that post, and
`found` then counts the posts after the handle, as the real SQL does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote_plus

from wpcom_sandbox.content import Post
from wpcom_sandbox.dates import parse_iso
from wpcom_sandbox.post_json import post_json
from wpcom_sandbox.rest import RestCall, RestError
from wpcom_sandbox.text import slugify
from wpcom_sandbox.view import View

DEFAULT_NUMBER, MAX_NUMBER = 20, 100
STATUSES = ("publish", "pending", "draft", "future", "private", "trash")
POST_TYPES = ("post", "page")
ORDER_BY = ("date", "modified", "title", "comment_count", "ID")
DATE_PARAMETERS = (
    ("after", "date"),
    ("before", "date"),
    ("modified_after", "modified"),
    ("modified_before", "modified"),
)
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


def php_int(value: str | None, default: int = 0) -> int:
    """PHP's `(int)` cast of a query value: leading digits, else 0; `default` when absent."""
    if value is None:
        return default
    match = _LEADING_INT.match(value)
    return int(match.group(1)) if match else 0


def page_size(call: RestCall) -> int:
    """The `number` parameter (default 20, at most 100 -> else 400 `invalid_number`)."""
    number = php_int(call.arg("number"), DEFAULT_NUMBER)
    if number > MAX_NUMBER:
        raise RestError(400, "invalid_number", "The NUMBER parameter must be less than or equal to 100.")
    return number if number >= 1 else DEFAULT_NUMBER


@dataclass(frozen=True)
class PostQuery:
    """A parsed list request."""

    number: int
    offset: int
    handle_allowed: bool
    descending: bool
    order_by: str
    statuses: frozenset[str]
    types: frozenset[str]
    filters: tuple[Callable[[Post], bool], ...]
    page_handle: tuple[str, int] | None


def parse_query(call: RestCall) -> PostQuery:
    """Read the list parameters (404 `unknown_post_type` for a type other than post, page, any)."""
    number = page_size(call)
    if call.arg("page") is not None:
        page = max(php_int(call.arg("page")), 1)
        offset, handle_allowed = (page - 1) * number, page == 1
    else:
        offset = max(php_int(call.arg("offset")), 0)
        handle_allowed = offset == 0
    order_by = call.arg("order_by") if call.arg("order_by") in ORDER_BY else "date"
    kind = call.arg("type") or "post"
    if kind != "any" and kind not in POST_TYPES:
        raise RestError(404, "unknown_post_type", "Unknown post type")
    asked = {status.strip() for status in (call.arg("status") or "publish").split(",")}
    if "any" in asked:
        statuses = frozenset(STATUSES) - {"trash"}
    else:
        statuses = frozenset(asked & set(STATUSES)) or frozenset({"publish"})
    handle = parse_qs(call.arg("page_handle") or "")
    page_handle = None
    if "value" in handle and "id" in handle and handle["id"][0].isdigit():
        page_handle = (handle["value"][0], int(handle["id"][0]))
    return PostQuery(
        number=number,
        offset=offset,
        handle_allowed=handle_allowed,
        descending=(call.arg("order") or "DESC").upper() != "ASC",
        order_by=str(order_by),
        statuses=statuses,
        types=frozenset(POST_TYPES) if kind == "any" else frozenset({kind}),
        filters=_filters(call),
        page_handle=page_handle,
    )


def _filters(call: RestCall) -> tuple[Callable[[Post], bool], ...]:
    found: list[Callable[[Post], bool]] = []
    if author := php_int(call.arg("author")):
        found.append(lambda post: post.author_id == author)
    if words := (call.arg("search") or "").casefold().split():
        found.append(
            lambda post: all(word in f"{post.title} {post.excerpt} {post.content}".casefold() for word in words)
        )
    for name, field in DATE_PARAMETERS:
        moment = parse_iso(call.arg(name))
        if moment is not None:
            found.append(_date_filter(field, moment, name.endswith("after")))
    return tuple(found)


def _date_filter(field: str, moment: datetime, after: bool) -> Callable[[Post], bool]:
    def keep(post: Post) -> bool:
        value: datetime = getattr(post, field)
        return value > moment if after else value < moment

    return keep


def _term_filter(view: View, call: RestCall) -> Callable[[Post], bool]:
    """`tag` (slugs; `a,b` either, `a+b` both) and `category` (slug or name)."""
    site_id = view.site.site_id
    tag_text = call.arg("tag") or ""
    wanted_tags = [slugify(part) for part in re.split(r"[,+]", tag_text) if part.strip()]
    category = (call.arg("category") or "").strip()

    def slugs(term_ids: tuple[int, ...]) -> set[str]:
        terms = [view.store.term(site_id, term_id) for term_id in term_ids]
        return {term.slug for term in terms if term is not None}

    def keep(post: Post) -> bool:
        if wanted_tags:
            have = slugs(post.tags)
            test = all if "+" in tag_text else any
            if not test(tag in have for tag in wanted_tags):
                return False
        if category:
            terms = [view.store.term(site_id, term_id) for term_id in post.categories]
            names = {term.slug for term in terms if term} | {term.name.casefold() for term in terms if term}
            if category.casefold() not in names and slugify(category) not in names:
                return False
        return True

    return keep


def _sort_value(view: View, post: Post, order_by: str) -> Any:
    if order_by == "modified":
        return post.modified
    if order_by == "title":
        return post.title.casefold()
    if order_by == "ID":
        return post.post_id
    if order_by == "comment_count":
        comments = view.store.comments(view.site.site_id)
        return sum(1 for c in comments if c.post_id == post.post_id and c.status == "approved")
    return post.date


def _handle_value(view: View, post: Post, order_by: str) -> str:
    if order_by in ("date", "modified"):
        return view.date(post.modified if order_by == "modified" else post.date)
    if order_by == "title":
        return post.title
    return str(_sort_value(view, post, order_by))


def _after_handle(view: View, query: PostQuery, post: Post) -> bool:
    assert query.page_handle is not None
    raw, handle_id = query.page_handle
    value: Any
    if query.order_by in ("date", "modified"):
        value = parse_iso(raw)
        if value is None:
            return True
    elif query.order_by == "title":
        value = raw.casefold()
    else:
        value = php_int(raw)
    mine = _sort_value(view, post, query.order_by)
    if query.descending:
        return bool(mine < value or (query.order_by != "ID" and mine == value and post.post_id < handle_id))
    return bool(mine > value or (query.order_by != "ID" and mine == value and post.post_id > handle_id))


def list_posts(view: View, call: RestCall) -> dict[str, Any]:
    """The `{"found", "posts", "meta"?}` answer for a list request."""
    query = parse_query(call)
    term_filter = _term_filter(view, call)
    posts = [
        post
        for post in view.store.posts(view.site.site_id)
        if post.status in query.statuses
        and post.post_type in query.types
        and term_filter(post)
        and all(check(post) for check in query.filters)
        and (query.page_handle is None or _after_handle(view, query, post))
    ]
    posts.sort(key=lambda post: (_sort_value(view, post, query.order_by), post.post_id), reverse=query.descending)
    chosen = posts[query.offset : query.offset + query.number]
    body: dict[str, Any] = {"found": len(posts), "posts": [post_json(view, post) for post in chosen]}
    if query.handle_allowed and chosen and len(posts) > len(chosen):
        last = chosen[-1]
        value = quote_plus(_handle_value(view, last, query.order_by))
        body["meta"] = {"next_page": f"value={value}&id={last.post_id}"}
    return body
