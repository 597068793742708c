"""The sandbox's seeded WordPress.com accounts and sites (fictional, fixed IDs)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """A WordPress.com account."""

    user_id: int
    username: str
    display_name: str
    email: str
    primary_blog: int
    language: str
    verified: bool
    date: str

    @property
    def avatar_url(self) -> str:
        """Gravatar URL, keyed by a hash of the e-mail address as WordPress.com does."""
        return gravatar_url(self.email)

    @property
    def profile_url(self) -> str:
        """Public Gravatar profile."""
        return f"https://gravatar.com/{self.username}"


@dataclass(frozen=True)
class Site:
    """A WordPress.com-hosted site (never Jetpack) and its owner."""

    site_id: int
    owner_id: int
    domain: str
    name: str
    description: str
    lang: str
    is_private: bool
    visible: bool
    subscribers_count: int
    timezone: str
    gmt_offset: float
    created_at: str
    icon_media_id: int | None = None

    @property
    def url(self) -> str:
        """The site's public URL, e.g. https://alicecooks.wordpress.com."""
        return f"https://{self.domain}"

    @property
    def slug(self) -> str:
        """WordPress.com uses the site's host name as its slug."""
        return self.domain


def gravatar_url(email: str) -> str:
    """The Gravatar image URL for an e-mail address (also used for guest commenters)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"https://0.gravatar.com/avatar/{digest}?s=96&d=identicon"


def seed_users() -> dict[int, User]:
    """Fresh copies of the seeded accounts, by ID."""
    users = [
        User(
            user_id=51234001,
            username="alicebaker",
            display_name="Alice Baker",
            email="alice@example.com",
            primary_blog=190000101,
            language="en",
            verified=True,
            date="2015-03-14T09:26:53+00:00",
        ),
        User(
            user_id=51234002,
            username="bobortega",
            display_name="Bob Ortega",
            email="bob@example.org",
            primary_blog=190000201,
            language="es",
            verified=True,
            date="2018-07-02T17:45:10+00:00",
        ),
        User(
            user_id=51234003,
            username="carolnguyen",
            display_name="Carol Nguyen",
            email="carol@example.net",
            primary_blog=190000301,
            language="en-gb",
            verified=False,
            date="2021-11-30T06:03:41+00:00",
        ),
    ]
    return {user.user_id: user for user in users}


def seed_sites() -> dict[int, Site]:
    """Fresh copies of the seeded sites, by ID (Alice and Carol own two each)."""
    sites = [
        Site(
            site_id=190000101,
            owner_id=51234001,
            domain="alicecooks.wordpress.com",
            name="Alice Cooks",
            description="Weeknight recipes & kitchen notes",
            lang="en",
            is_private=False,
            visible=True,
            subscribers_count=318,
            timezone="Europe/London",
            gmt_offset=0,
            created_at="2015-03-14T09:31:02+00:00",
            icon_media_id=12,
        ),
        Site(
            site_id=190000102,
            owner_id=51234001,
            domain="alicetravels.wordpress.com",
            name="Alice Travels",
            description="Private travel journal",
            lang="en",
            is_private=True,
            visible=True,
            subscribers_count=0,
            timezone="",
            gmt_offset=0,
            created_at="2019-05-20T12:00:00+00:00",
        ),
        Site(
            site_id=190000201,
            owner_id=51234002,
            domain="bobsgarden.wordpress.com",
            name="Bob's Garden",
            description="Huerto urbano, paso a paso",
            lang="es",
            is_private=False,
            visible=True,
            subscribers_count=1045,
            timezone="America/Mexico_City",
            gmt_offset=-6,
            created_at="2018-07-02T17:50:44+00:00",
            icon_media_id=7,
        ),
        Site(
            site_id=190000301,
            owner_id=51234003,
            domain="carolcodes.wordpress.com",
            name="Carol <Codes>",
            description='Notes on Python, HTTP and "other" things',
            lang="en",
            is_private=False,
            visible=True,
            subscribers_count=56,
            timezone="Asia/Kolkata",
            gmt_offset=5.5,
            created_at="2021-11-30T06:10:00+00:00",
            icon_media_id=3,
        ),
        Site(
            site_id=190000302,
            owner_id=51234003,
            domain="carolsoldblog.wordpress.com",
            name="Carol's old blog",
            description="",
            lang="en",
            is_private=False,
            visible=False,
            subscribers_count=2,
            timezone="",
            gmt_offset=0,
            created_at="2012-01-08T22:14:09+00:00",
        ),
    ]
    return {site.site_id: site for site in sites}
