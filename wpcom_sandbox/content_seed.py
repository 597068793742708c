"""The seeded posts, pages, terms, likes, comments and media of the seeded sites (fictional)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from wpcom_sandbox.content import CATEGORY, TAG, Comment, ContentStore, Like, MediaItem, MetaEntry, Post, SiteContent
from wpcom_sandbox.imaging import tiny_png
from wpcom_sandbox.text import slugify

ALICE, BOB, CAROL = 51234001, 51234002, 51234003
ALICE_COOKS, ALICE_TRAVELS, BOB_GARDEN, CAROL_CODES = 190000101, 190000102, 190000201, 190000301


def at(text: str) -> datetime:
    """A UTC datetime from `YYYY-MM-DD HH:MM`."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


class _Seeder:
    """Builds one site's content; every post is by the site's owner."""

    def __init__(self, site_id: int, owner: int) -> None:
        self.site_id, self.owner = site_id, owner
        self.content = SiteContent.empty()

    def terms(self, taxonomy: str, *names: str) -> list[int]:
        return [self.content.add_term(taxonomy, name).term_id for name in names]

    def post(self, post_id: int, when: str, title: str, **extra: Any) -> None:
        date = at(when)
        modified = at(extra.pop("modified")) if "modified" in extra else date
        slug = extra.pop("slug", slugify(title))
        post = Post(post_id, self.site_id, self.owner, date, modified, title, slug=slug, **extra)
        self.content.posts[post_id] = post

    def edit(self, post_id: int, **changes: Any) -> None:
        self.content.posts[post_id] = dataclasses.replace(self.content.posts[post_id], **changes)

    def media(self, media_id: int, post_id: int, when: str, path: str, **extra: Any) -> None:
        """A 2x2 PNG upload titled after its file name."""
        title = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        data = tiny_png(2, 2, (230, 220, 200))
        item = MediaItem(media_id, self.site_id, self.owner, at(when), path, "image/png", data, post_id, title, **extra)
        self.content.media[media_id] = dataclasses.replace(item, width=2, height=2)

    def like(self, post_id: int, user_id: int, when: str) -> None:
        self.content.likes.append(Like(post_id, user_id, at(when)))

    def comment(self, comment_id: int, post_id: int, when: str, text: str, **extra: Any) -> None:
        self.content.comments[comment_id] = Comment(comment_id, post_id, at(when), text, **extra)

    def done(self) -> SiteContent:
        self.content.fix_counters()
        return self.content


def _alice_cooks() -> SiteContent:
    seed = _Seeder(ALICE_COOKS, ALICE)
    recipes, notes = seed.terms(CATEGORY, "Recipes", "Kitchen Notes")
    pasta, weeknight, baking, sourdough, soup = seed.terms(TAG, "pasta", "weeknight", "baking", "sourdough", "soup")
    seed.post(21, "2024-01-09 18:30", "Ten-minute garlic pasta", categories=(recipes,), tags=(pasta, weeknight))
    seed.post(34, "2024-02-03 09:15", "Sourdough starter, day one", categories=(notes,), tags=(baking, sourdough))
    seed.post(47, "2024-03-17 12:00", "Tomato soup for a rainy week", categories=(recipes,), tags=(soup, weeknight))
    seed.post(58, "2024-04-22 07:45", "Why I weigh my flour", categories=(notes,), tags=(baking,), featured_media=59)
    seed.post(63, "2024-05-30 20:10", "Five pantry staples", format="aside", modified="2024-06-01 08:00")
    seed.post(70, "2024-06-02 16:00", "Lemon tart", status="draft", slug="", categories=(recipes,))
    seed.post(72, "2015-03-14 10:00", "About", post_type="page", content="I cook, I write it down.")
    seed.edit(21, content="Boil the pasta.\n\nWarm garlic in olive oil; toss and eat.")
    seed.edit(34, content="Flour, water, patience.", excerpt="Day one of many.", modified=at("2024-06-15 10:00"))
    seed.edit(47, sticky=True, metadata=(MetaEntry(1, "serves", "4"),))
    seed.edit(58, content="Cups lie.\n\nA scale does not.")
    seed.edit(63, content="Olive oil, garlic, lemons, anchovies, good salt.")
    seed.media(59, 58, "2024-04-22 07:40", "2024/04/flour-scale.png", alt="A kitchen scale with flour")
    seed.like(21, BOB, "2024-01-10 07:55")
    seed.like(21, CAROL, "2024-01-11 12:00")
    seed.like(34, CAROL, "2024-02-03 11:20")
    seed.like(47, ALICE, "2024-03-17 12:05")
    seed.like(58, BOB, "2024-04-22 09:00")
    seed.comment(1, 21, "2024-01-10 08:02", "Made this tonight, so good!", user_id=BOB)
    seed.comment(2, 21, "2024-01-10 09:30", "Glad you liked it, Bob!", user_id=ALICE, parent=1, like_count=1)
    dana = {"author_name": "Dana Fox", "author_email": "dana@example.com", "author_url": "https://danafox.example"}
    seed.comment(3, 34, "2024-02-04 14:12", "How warm should the kitchen be?", **dana)
    spam = {"author_name": "Cheap pills", "author_email": "spam@example.invalid", "status": "spam"}
    seed.comment(4, 34, "2024-02-05 03:33", "Buy now!", **spam)
    seed.comment(5, 58, "2024-04-23 06:10", "Weighing changed my baking.", user_id=CAROL, status="unapproved")
    return seed.done()


def _alice_travels() -> SiteContent:
    seed = _Seeder(ALICE_TRAVELS, ALICE)
    (travel,) = seed.terms(CATEGORY, "Travel")
    (portugal,) = seed.terms(TAG, "portugal")
    seed.post(11, "2023-10-05 08:00", "Lisbon in three days", categories=(travel,), tags=(portugal,))
    seed.post(15, "2023-11-12 19:30", "Packing list", status="private", content="Passport. Charger. Good shoes.")
    return seed.done()


def _bobs_garden() -> SiteContent:
    seed = _Seeder(BOB_GARDEN, BOB)
    (huerto,) = seed.terms(CATEGORY, "Huerto")
    tomates, balcon, compost = seed.terms(TAG, "tomates", "balcón", "compost")
    seed.post(101, "2023-04-02 15:00", "Cómo empezar un huerto en el balcón", categories=(huerto,), tags=(balcon,))
    seed.post(108, "2023-05-20 14:30", "Tomates cherry en maceta", categories=(huerto,), tags=(tomates, balcon))
    seed.post(115, "2023-09-09 17:45", "Compost casero sin olores", categories=(huerto,), tags=(compost,))
    seed.like(101, ALICE, "2023-04-03 08:00")
    seed.like(101, CAROL, "2023-04-04 21:10")
    seed.comment(1, 101, "2023-04-03 08:05", "¡Qué buena idea!", user_id=ALICE)
    return seed.done()


def _carol_codes() -> SiteContent:
    seed = _Seeder(CAROL_CODES, CAROL)
    (notes,) = seed.terms(CATEGORY, "Notes")
    python, http = seed.terms(TAG, "python", "http")
    seed.post(5, "2022-02-14 04:30", "Retrying HTTP requests politely", categories=(notes,), tags=(python, http))
    seed.post(9, "2022-03-01 11:00", 'Escaping "quotes" & <tags>', categories=(notes,), tags=(python,))
    seed.like(5, ALICE, "2022-02-15 09:00")
    seed.comment(1, 5, "2022-02-14 10:00", "Jitter helps too.", user_id=BOB)
    return seed.done()


def seed_content() -> ContentStore:
    """Fresh copies of the seeded content (Carol's old blog starts empty)."""
    sites = {ALICE_COOKS: _alice_cooks(), ALICE_TRAVELS: _alice_travels(), BOB_GARDEN: _bobs_garden()}
    sites[CAROL_CODES] = _carol_codes()
    return ContentStore(sites)
