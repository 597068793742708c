"""WordPress.com OAuth scopes: parsing, what a set of scopes grants, and consent wording."""

from __future__ import annotations

import enum
import re

GLOBAL = "global"
AUTH = "auth"
GRANULAR_SCOPES = (
    "users",
    "sites",
    "posts",
    "comments",
    "taxonomy",
    "follow",
    "sharing",
    "freshly-pressed",
    "notifications",
    "insights",
    "read",
    "stats",
    "media",
    "menus",
    "batch",
    "videos",
)
KNOWN_SCOPES = frozenset({GLOBAL, AUTH, *GRANULAR_SCOPES})


class Access(enum.Enum):
    """What a token reaches: one chosen site, all the user's sites, or only the user's profile."""

    SITE = "site"
    GLOBAL = "global"
    AUTH = "auth"


def split_scopes(raw: str | None) -> list[str]:
    """Scopes from a space- or comma-separated list, de-duplicated, in order."""
    scopes: list[str] = []
    for scope in re.split(r"[\s,]+", raw or ""):
        if scope and scope not in scopes:
            scopes.append(scope)
    return scopes


def unknown_scopes(scopes: list[str]) -> list[str]:
    """The scopes WordPress.com does not define."""
    return [scope for scope in scopes if scope not in KNOWN_SCOPES]


def access_for(scopes: list[str]) -> Access:
    """`global` reaches every site, `auth` alone only /me, anything else (or nothing) one site."""
    if GLOBAL in scopes:
        return Access.GLOBAL
    if scopes == [AUTH]:
        return Access.AUTH
    return Access.SITE


def granted_scope(scopes: list[str]) -> str:
    """The `scope` string of the token response: "global", "auth", "" (default) or e.g. "posts,media"."""
    if GLOBAL in scopes:
        return GLOBAL
    return ",".join(scopes)


SCOPE_DESCRIPTIONS = {
    "": "Manage one site of your choice: its posts, pages, comments, media and settings.",
    GLOBAL: "Manage all of your sites: their posts, pages, comments, media and settings.",
    AUTH: "Know who you are on WordPress.com (your profile only).",
    "users": "See and manage the users of your site.",
    "sites": "See your site's details and settings.",
    "posts": "Create, edit and delete posts and pages.",
    "comments": "Read and moderate comments.",
    "taxonomy": "Manage categories and tags.",
    "follow": "Follow and unfollow sites.",
    "sharing": "Manage sharing and Publicize connections.",
    "freshly-pressed": "Read Freshly Pressed.",
    "notifications": "Read your notifications.",
    "insights": "See your site's insights.",
    "read": "Use the Reader.",
    "stats": "See your site's stats.",
    "media": "Upload and manage media.",
    "menus": "Manage menus.",
    "batch": "Send batched requests.",
    "videos": "Manage videos.",
}


def describe(scopes: list[str]) -> list[str]:
    """Consent-page lines for the requested scopes."""
    if GLOBAL in scopes:
        return [SCOPE_DESCRIPTIONS[GLOBAL]]
    if not scopes:
        return [SCOPE_DESCRIPTIONS[""]]
    return [SCOPE_DESCRIPTIONS[scope] for scope in scopes if scope in SCOPE_DESCRIPTIONS]
