"""Small text helpers mirroring WordPress: slugs, paragraphs (`wpautop`, simplified), excerpts."""

from __future__ import annotations

import html
import re
import unicodedata

_BLOCK_START = re.compile(r"^\s*<(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|figure|table|hr|!--)\b", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
EXCERPT_WORDS = 55


def slugify(text: str) -> str:
    """`sanitize_title`: lower-case ASCII words joined by hyphens (accents dropped)."""
    plain = unicodedata.normalize("NFKD", html.unescape(_TAG.sub("", text)))
    ascii_text = plain.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def autop(text: str) -> str:
    """Wrap blank-line separated paragraphs in `<p>` unless they already start with a block tag."""
    chunks = [chunk.strip() for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if chunk.strip()]
    return "".join(chunk + "\n" if _BLOCK_START.match(chunk) else f"<p>{chunk}</p>\n" for chunk in chunks)


def strip_tags(text: str) -> str:
    """Text without HTML tags."""
    return _TAG.sub("", text)


def trim_words(text: str, count: int = EXCERPT_WORDS) -> str:
    """The first `count` words of `text` without tags, with ` [&hellip;]` when cut (`wp_trim_excerpt`)."""
    words = strip_tags(text).split()
    if len(words) <= count:
        return " ".join(words)
    return " ".join(words[:count]) + " [&hellip;]"
