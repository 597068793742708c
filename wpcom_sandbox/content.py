"""Per-site content: posts and pages, categories and tags, likes, comments and media.

`ContentStore` is thread-safe (one lock) and hands out immutable records. Posts and media share
one ID sequence per site, as in WordPress, where attachments are posts.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wpcom_sandbox.text import slugify

CATEGORY = "category"
TAG = "post_tag"
DEFAULT_CATEGORY_ID = 1


@dataclass(frozen=True)
class Term:
    """A category or tag of one site."""

    term_id: int
    taxonomy: str
    name: str
    slug: str
    description: str = ""
    parent: int = 0


@dataclass(frozen=True)
class MetaEntry:
    """One post metadata row."""

    meta_id: int
    key: str
    value: Any


@dataclass(frozen=True)
class Post:
    """A post or page; dates are UTC. `trashed_from` is the status before trashing."""

    post_id: int
    site_id: int
    author_id: int
    date: datetime
    modified: datetime
    title: str
    content: str = ""
    excerpt: str = ""
    slug: str = ""
    status: str = "publish"
    post_type: str = "post"
    password: str = ""
    parent: int = 0
    sticky: bool = False
    format: str = "standard"
    comment_status: str = "open"
    ping_status: str = "open"
    likes_enabled: bool = True
    sharing_enabled: bool = True
    menu_order: int = 0
    featured_media: int = 0
    categories: tuple[int, ...] = ()
    tags: tuple[int, ...] = ()
    metadata: tuple[MetaEntry, ...] = ()
    trashed_from: str = ""


@dataclass(frozen=True)
class Like:
    """A user's like of a post."""

    post_id: int
    user_id: int
    date: datetime


@dataclass(frozen=True)
class Comment:
    """A comment; `user_id` 0 is a guest identified by name, e-mail and URL."""

    comment_id: int
    post_id: int
    date: datetime
    content: str
    user_id: int = 0
    author_name: str = ""
    author_email: str = ""
    author_url: str = ""
    status: str = "approved"
    parent: int = 0
    comment_type: str = "comment"
    like_count: int = 0


@dataclass(frozen=True)
class MediaItem:
    """An uploaded file; `path` is `yyyy/mm/name.ext` under the site's uploads."""

    media_id: int
    site_id: int
    author_id: int
    date: datetime
    path: str
    mime_type: str
    data: bytes = field(repr=False)
    post_id: int = 0
    title: str = ""
    caption: str = ""
    description: str = ""
    alt: str = ""
    width: int | None = None
    height: int | None = None

    @property
    def file(self) -> str:
        """The file name."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def extension(self) -> str:
        """The file name's extension, lower-case."""
        return self.file.rsplit(".", 1)[-1].lower() if "." in self.file else ""


@dataclass
class SiteContent:
    """Everything one site holds (mutable; only `ContentStore` touches it)."""

    posts: dict[int, Post] = field(default_factory=dict)
    terms: dict[int, Term] = field(default_factory=dict)
    likes: list[Like] = field(default_factory=list)
    comments: dict[int, Comment] = field(default_factory=dict)
    media: dict[int, MediaItem] = field(default_factory=dict)
    next_id: int = 1
    next_term_id: int = 1
    next_comment_id: int = 1
    next_meta_id: int = 1

    @classmethod
    def empty(cls) -> SiteContent:
        """A site with only the default category."""
        content = cls()
        content.add_term(CATEGORY, "Uncategorized")
        return content

    def add_term(self, taxonomy: str, name: str, slug: str = "", description: str = "") -> Term:
        """Create a term with a slug unique within its taxonomy."""
        base = slugify(slug or name) or str(self.next_term_id)
        taken = {term.slug for term in self.terms.values() if term.taxonomy == taxonomy}
        unique, suffix = base, 2
        while unique in taken:
            unique, suffix = f"{base}-{suffix}", suffix + 1
        term = Term(self.next_term_id, taxonomy, name, unique, description)
        self.terms[term.term_id] = term
        self.next_term_id += 1
        return term

    def fix_counters(self) -> None:
        """Move the ID sequences past every seeded record."""
        self.next_id = max([self.next_id, *(i + 1 for i in self.posts), *(i + 1 for i in self.media)])
        self.next_term_id = max([self.next_term_id, *(i + 1 for i in self.terms)])
        self.next_comment_id = max([self.next_comment_id, *(i + 1 for i in self.comments)])
        metas = [entry.meta_id + 1 for post in self.posts.values() for entry in post.metadata]
        self.next_meta_id = max([self.next_meta_id, *metas])


class ContentStore:
    """Thread-safe access to every site's content; unknown sites start empty."""

    def __init__(self, sites: dict[int, SiteContent] | None = None) -> None:
        self._lock = threading.Lock()
        self._sites: dict[int, SiteContent] = sites or {}

    def _site(self, site_id: int) -> SiteContent:
        content = self._sites.get(site_id)
        if content is None:
            content = self._sites[site_id] = SiteContent.empty()
        return content

    # --- posts ---------------------------------------------------------------------------------

    def reserve_id(self, site_id: int) -> int:
        """A fresh post/media ID for a site."""
        with self._lock:
            content = self._site(site_id)
            content.next_id += 1
            return content.next_id - 1

    def next_meta_id(self, site_id: int) -> int:
        """A fresh metadata row ID for a site."""
        with self._lock:
            content = self._site(site_id)
            content.next_meta_id += 1
            return content.next_meta_id - 1

    def posts(self, site_id: int) -> list[Post]:
        """A site's posts and pages, by ID."""
        with self._lock:
            return sorted(self._site(site_id).posts.values(), key=lambda post: post.post_id)

    def post(self, site_id: int, post_id: int) -> Post | None:
        """A post or page by ID."""
        with self._lock:
            return self._site(site_id).posts.get(post_id)

    def post_by_slug(self, site_id: int, slug: str) -> Post | None:
        """A post by slug, else a page by slug."""
        with self._lock:
            found = [post for post in self._site(site_id).posts.values() if slug and post.slug == slug]
        found.sort(key=lambda post: (post.post_type != "post", post.post_id))
        return found[0] if found else None

    def save_post(self, post: Post) -> Post:
        """Store a post, making a non-empty slug unique among posts of its type (`-2`, `-3`, ...)."""
        with self._lock:
            content = self._site(post.site_id)
            if post.slug:
                taken = {
                    other.slug
                    for other in content.posts.values()
                    if other.post_type == post.post_type and other.post_id != post.post_id
                }
                slug, suffix = post.slug, 2
                while slug in taken:
                    slug, suffix = f"{post.slug}-{suffix}", suffix + 1
                post = dataclasses.replace(post, slug=slug)
            content.posts[post.post_id] = post
            return post

    def delete_post(self, site_id: int, post_id: int) -> None:
        """Delete a post with its likes and comments; its media stay, detached."""
        with self._lock:
            content = self._site(site_id)
            content.posts.pop(post_id, None)
            content.likes = [like for like in content.likes if like.post_id != post_id]
            content.comments = {key: c for key, c in content.comments.items() if c.post_id != post_id}
            for key, item in content.media.items():
                if item.post_id == post_id:
                    content.media[key] = dataclasses.replace(item, post_id=0)

    def published_count(self, site_id: int) -> int:
        """How many published posts (not pages) a site has."""
        with self._lock:
            posts = self._site(site_id).posts.values()
            return sum(1 for post in posts if post.post_type == "post" and post.status == "publish")

    # --- terms ---------------------------------------------------------------------------------

    def term(self, site_id: int, term_id: int) -> Term | None:
        """A category or tag by ID."""
        with self._lock:
            return self._site(site_id).terms.get(term_id)

    def terms(self, site_id: int, taxonomy: str) -> list[Term]:
        """A site's categories or tags, by ID."""
        with self._lock:
            terms = self._site(site_id).terms.values()
            return sorted((term for term in terms if term.taxonomy == taxonomy), key=lambda term: term.term_id)

    def resolve_terms(self, site_id: int, taxonomy: str, refs: list[str]) -> tuple[int, ...]:
        """Term IDs for names, slugs or IDs; unknown names are created, unknown IDs ignored."""
        chosen: list[int] = []
        with self._lock:
            content = self._site(site_id)
            mine = [term for term in content.terms.values() if term.taxonomy == taxonomy]
            for ref in (ref.strip() for ref in refs):
                if not ref:
                    continue
                if ref.isdigit():
                    found = next((term for term in mine if term.term_id == int(ref)), None)
                else:
                    wanted = slugify(ref)
                    found = next((t for t in mine if t.name.lower() == ref.lower() or t.slug == wanted), None)
                    if found is None:
                        found = content.add_term(taxonomy, ref)
                        mine.append(found)
                if found is not None and found.term_id not in chosen:
                    chosen.append(found.term_id)
        return tuple(chosen)

    def term_post_count(self, site_id: int, term_id: int) -> int:
        """How many published posts carry a term."""
        with self._lock:
            posts = self._site(site_id).posts.values()
            return sum(1 for p in posts if p.status == "publish" and (term_id in p.tags or term_id in p.categories))

    # --- likes and comments --------------------------------------------------------------------

    def likes(self, site_id: int, post_id: int) -> list[Like]:
        """A post's likes, newest first."""
        with self._lock:
            likes = [like for like in self._site(site_id).likes if like.post_id == post_id]
        return sorted(likes, key=lambda like: like.date, reverse=True)

    def comments(self, site_id: int) -> list[Comment]:
        """A site's comments, by ID."""
        with self._lock:
            return sorted(self._site(site_id).comments.values(), key=lambda comment: comment.comment_id)

    def comment(self, site_id: int, comment_id: int) -> Comment | None:
        """A comment by ID."""
        with self._lock:
            return self._site(site_id).comments.get(comment_id)

    # --- media -----------------------------------------------------------------------------------

    def add_media(self, item: MediaItem) -> MediaItem:
        """Store an upload, renaming `name.ext` to `name-1.ext`, ... when the path is taken."""
        with self._lock:
            content = self._site(item.site_id)
            taken = {other.path for other in content.media.values()}
            folder, _, name = item.path.rpartition("/")
            stem, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
            path, suffix = item.path, 1
            while path in taken:
                path, suffix = f"{folder}/{stem}-{suffix}{dot}{extension}", suffix + 1
            item = dataclasses.replace(item, path=path)
            content.media[item.media_id] = item
            return item

    def media_item(self, site_id: int, media_id: int) -> MediaItem | None:
        """An upload by ID."""
        with self._lock:
            return self._site(site_id).media.get(media_id)

    def media_at(self, site_id: int, path: str) -> MediaItem | None:
        """An upload by its `yyyy/mm/name.ext` path."""
        with self._lock:
            return next((item for item in self._site(site_id).media.values() if item.path == path), None)

    def media_of_post(self, site_id: int, post_id: int) -> list[MediaItem]:
        """The uploads attached to a post, newest first."""
        with self._lock:
            items = [item for item in self._site(site_id).media.values() if item.post_id == post_id]
        return sorted(items, key=lambda item: (item.date, item.media_id), reverse=True)
