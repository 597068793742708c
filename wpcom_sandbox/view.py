"""What rendering a site's content needs (`View`), permalinks, and the author object."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wpcom_sandbox.content import ContentStore, Post
from wpcom_sandbox.data import Site, gravatar_url
from wpcom_sandbox.dates import format_local
from wpcom_sandbox.rest import RestCall, RestError
from wpcom_sandbox.site_access import SiteGrant
from wpcom_sandbox.state import SandboxState

_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class View:
    """The site being rendered, who looks at it, link bases and the `context` (display or edit)."""

    state: SandboxState
    site: Site
    viewer_id: int
    api_root: str
    origin: str
    edit: bool = False

    @property
    def store(self) -> ContentStore:
        """The sandbox's content."""
        return self.state.content

    @property
    def can_edit(self) -> bool:
        """Whether the viewer manages the site (its owner)."""
        return self.viewer_id == self.site.owner_id

    def link(self, path: str = "") -> str:
        """An API link under the site, e.g. `link("/posts/21")`."""
        return f"{self.api_root}/sites/{self.site.site_id}{path}"

    def date(self, moment: datetime) -> str:
        """A date in the site's offset."""
        return format_local(moment, self.site.gmt_offset)

    def file_url(self, path: str) -> str:
        """The public URL of an upload (`yyyy/mm/name.ext`)."""
        return f"{self.origin}/files/{self.site.site_id}/{path}"


def view_for(call: RestCall, grant: SiteGrant) -> View:
    """The view for a request; `context` is `display` (default) or `edit`, else 400 `invalid_context`."""
    context = call.arg("context") or "display"
    if context not in ("display", "edit"):
        raise RestError(400, "invalid_context", "Invalid API CONTEXT")
    return View(call.state, grant.site, grant.user.user_id, call.api_root, call.origin, context == "edit")


def _base62(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
        if number == 0:
            return digits


def permalink(view: View, post: Post) -> str:
    """The post's URL: dated for published posts, `/slug/` for pages, `?p=ID` before publishing."""
    if post.status not in ("publish", "private") or not post.slug:
        key = "page_id" if post.post_type == "page" else "p"
        return f"{view.site.url}/?{key}={post.post_id}"
    if post.post_type == "page":
        return f"{view.site.url}/{post.slug}/"
    day = view.date(post.date)[:10].replace("-", "/")
    return f"{view.site.url}/{day}/{post.slug}/"


def shortlink(view: View, post: Post) -> str:
    """The wp.me short URL (`p` for posts, `P` for pages)."""
    kind = "P" if post.post_type == "page" else "p"
    return f"https://wp.me/{kind}{_base62(view.site.site_id)}-{_base62(post.post_id)}"


def author_json(view: View, user_id: int, show_email: bool) -> dict[str, Any] | None:
    """A registered user as the author of a post or comment."""
    user = view.state.find_user(user_id)
    if user is None:
        return None
    first, _, last = user.display_name.partition(" ")
    home = view.state.find_site(user.primary_blog)
    return {
        "ID": user.user_id,
        "login": user.username,
        "email": user.email if show_email else False,
        "name": user.display_name,
        "first_name": first,
        "last_name": last,
        "nice_name": user.username,
        "URL": home.url if home else "",
        "avatar_URL": user.avatar_url,
        "profile_URL": user.profile_url,
        "site_ID": user.primary_blog,
    }


def guest_json(name: str, email: str, url: str, show_email: bool) -> dict[str, Any]:
    """A guest commenter as an author object (ID 0)."""
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return {
        "ID": 0,
        "login": "",
        "email": email if show_email else False,
        "name": name,
        "first_name": "",
        "last_name": "",
        "nice_name": "",
        "URL": url,
        "avatar_URL": gravatar_url(email),
        "profile_URL": f"https://gravatar.com/{digest}",
    }
