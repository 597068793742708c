"""The proxy path rules (chalicelib/domain/proxy_paths.py) as a table: every refusal with its
reason, the limits at their edges, the WordPress.com namespace mapping and the quoting of what
goes upstream. (tests/test_proxy.py drives the same rules through the HTTP route; this file is
fast enough to be the mutation run's test for the module.)"""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.providers import get_provider
from chalicelib.domain.proxy_paths import MAX_SEGMENT_CHARS, MAX_SEGMENTS, api_path

WORDPRESS = get_provider("wordpress").api_paths


def upstream(raw_path: str) -> str:
    return api_path(WORDPRESS, raw_path.split("/"))


def refusal(segments: list[str]) -> str:
    with pytest.raises(BadRequest) as refused:
        api_path(WORDPRESS, segments)
    assert refused.value.code == "invalid_proxy_path"
    assert refused.value.status == 400
    message = refused.value.message
    assert message.startswith("The proxy path is not allowed: ")
    return message


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("me", "/rest/v1.1/me"),
        ("v1/me", "/rest/v1/me"),
        ("v1.1/me/sites", "/rest/v1.1/me/sites"),
        ("v1.2/me", "/rest/v1.2/me"),
        ("v1.3/me", "/rest/v1.3/me"),
        ("v1.1", "/rest/v1.1"),
        ("wp/v2/sites/1/posts", "/wp/v2/sites/1/posts"),
        ("wpcom/v2/sites/1/stats", "/wpcom/v2/sites/1/stats"),
        ("wp/v12/x", "/wp/v12/x"),
        ("wp/v2", "/wp/v2"),
        # A namespace without a version after it is an ordinary path.
        ("wp/sites", "/rest/v1.1/wp/sites"),
        ("wp", "/rest/v1.1/wp"),
        ("wp/v2x/x", "/rest/v1.1/wp/v2x/x"),
        ("wp/xv2/x", "/rest/v1.1/wp/xv2/x"),
        ("v2/me", "/rest/v1.1/v2/me"),
        ("sites/190000101/posts/slug:hello-world", "/rest/v1.1/sites/190000101/posts/slug:hello-world"),
        # Decoded once, then re-encoded: what is safe in a segment stays literal.
        ("sites/a%20b/posts", "/rest/v1.1/sites/a%20b/posts"),
        ("sites/caf%C3%A9", "/rest/v1.1/sites/caf%C3%A9"),
        ("x/-._~!$&'()*+,;=:", "/rest/v1.1/x/-._~!$&'()*+,;=:"),
        ("x/a?b#c", "/rest/v1.1/x/a%3Fb%23c"),
        ("x/%3Fq", "/rest/v1.1/x/%3Fq"),
    ],
)
def test_paths_map_onto_the_api(raw_path: str, expected: str) -> None:
    assert upstream(raw_path) == expected


@pytest.mark.parametrize(
    ("segments", "reason"),
    [
        ([], "it is empty"),
        (["v1.1", "", "me"], "it contains an empty segment (//)"),
        (["", "evil.com"], "it contains an empty segment (//)"),
        (["v1.1", "%2e%2e", "me"], "it contains a '.' or '..' segment"),
        (["v1.1", "..", "me"], "it contains a '.' or '..' segment"),
        (["v1.1", ".", "me"], "it contains a '.' or '..' segment"),
        (["v1.1", "%2E"], "it contains a '.' or '..' segment"),
        (["%2F%2Fevil.com", "x"], "it contains an encoded '/' or a '\\'"),
        (["v1.1", "me%5Cevil"], "it contains an encoded '/' or a '\\'"),
        (["v1.1", "me\\evil"], "it contains an encoded '/' or a '\\'"),
        (["v1.1", "me@evil.com"], "it contains '@'"),
        (["v1.1", "me%40evil.com"], "it contains '@'"),
        (["v1.1", "%252e%252e"], "it contains a doubly encoded character"),
        (["v1.1", "me%0D%0AHost:%20evil.com"], "it contains control characters (CR, LF, NUL, ...)"),
        (["v1.1", "me%00"], "it contains control characters (CR, LF, NUL, ...)"),
        (["v1.1", "me\x7f"], "it contains control characters (CR, LF, NUL, ...)"),
        (["v1.1", "%1F"], "it contains control characters (CR, LF, NUL, ...)"),
        (["v1.1", "%FF"], "it contains percent-encoding that is not UTF-8"),
        (["https:", "", "evil.com"], "it contains an empty segment (//)"),
        (["https:", "evil.com"], "it looks like an absolute URL"),
        (["javascript:", "x"], "it looks like an absolute URL"),
        (["https:%2F%2Fevil.com", "x"], "it contains an encoded '/' or a '\\'"),
        (["x", "https:", "evil.com"], None),  # a colon inside the path is fine
        (["x" * (MAX_SEGMENT_CHARS + 1)], "a segment is too long"),
        (["x"] * (MAX_SEGMENTS + 1), f"it has more than {MAX_SEGMENTS} segments"),
    ],
)
def test_escapes_are_refused_with_their_reason(segments: list[str], reason: str | None) -> None:
    if reason is None:
        assert api_path(WORDPRESS, segments).startswith("/rest/v1.1/x/")
        return
    assert refusal(segments) == f"The proxy path is not allowed: {reason}."


def test_absolute_url_refused_wherever_the_scheme_separator_is() -> None:
    # "://" spread over raw segments that each pass on their own ("a:" then "" is the `//` case).
    assert refusal(["v1.1", "a:%2F"]) == "The proxy path is not allowed: it contains an encoded '/' or a '\\'."
    assert "absolute URL" in refusal(["v1.1:", "x"])


def test_limits_are_inclusive() -> None:
    assert upstream("/".join(["x"] * MAX_SEGMENTS)) == "/rest/v1.1/" + "/".join(["x"] * MAX_SEGMENTS)
    longest = "y" * MAX_SEGMENT_CHARS
    assert upstream(f"v1.1/{longest}") == f"/rest/v1.1/{longest}"
    # The length cap counts the raw (still encoded) segment.
    encoded = "%41" * (MAX_SEGMENT_CHARS // 3) + "z" * (MAX_SEGMENT_CHARS % 3 + 1)
    assert refusal(["v1.1", encoded]) == "The proxy path is not allowed: a segment is too long."
