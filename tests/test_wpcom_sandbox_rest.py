"""The WordPress.com sandbox's site REST slice over HTTP: sites, posts (list, get, create, update,
delete), likes, comments, media upload and file serving, access control, `fields`, `http_envelope`."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from wpcom_sandbox import OAuthClient, SandboxState, WordPressSandbox
from wpcom_sandbox.content_seed import seed_content

ALICE, BOB = 51234001, 51234002
ALICE_COOKS, ALICE_TRAVELS, BOB_GARDEN, CAROL_CODES = 190000101, 190000102, 190000201, 190000301
NOW = 1_719_835_200.0  # 2024-07-01T12:00:00Z, after every seeded post
PRIVATE_BLOG = {"error": "unauthorized", "message": "User cannot access this private blog."}


def png_1x1() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[WordPressSandbox]:
    server = WordPressSandbox(port=0, state=SandboxState(clock=lambda: NOW))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_content(sandbox: WordPressSandbox) -> None:
    """Each test starts from the seeded posts, terms, likes, comments and media."""
    sandbox.state.content = seed_content()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def app(sandbox: WordPressSandbox) -> OAuthClient:
    return sandbox.state.register_client("REST tests", "http://127.0.0.1:9/oauth/callback")


class Api:
    """Issues tokens and calls `/rest/v1.1` with them."""

    def __init__(self, sandbox: WordPressSandbox, http: requests.Session, app: OAuthClient, watch: Any) -> None:
        self.sandbox, self.http, self.app, self.watch = sandbox, http, app, watch

    def token(self, user: str = "alicebaker", site: int | None = None, scope: str = "") -> str:
        token = self.sandbox.state.issue_token(self.app.client_id, user, site=site, scope=scope).token
        self.watch.add(token)
        return token

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        url = path if path.startswith("http") else f"{self.sandbox.origin}/rest/v1.1{path}"
        return self.http.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, token: str | None, **params: Any) -> requests.Response:
        return self.call("GET", path, token, params=params)

    def post(self, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, token, **kwargs)


@pytest.fixture
def api(sandbox: WordPressSandbox, http: requests.Session, app: OAuthClient, secret_watch: Any) -> Api:
    return Api(sandbox, http, app, secret_watch)


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [post["ID"] for post in response.json()["posts"]]


# --- sites ------------------------------------------------------------------------------------------


def test_get_site_by_domain_or_id(api: Api) -> None:
    token = api.token()
    site = api.get("/sites/alicecooks.wordpress.com", token).json()
    assert site["ID"] == ALICE_COOKS
    assert (site["slug"], site["name"], site["URL"]) == (
        "alicecooks.wordpress.com",
        "Alice Cooks",
        "https://alicecooks.wordpress.com",
    )
    assert (site["jetpack"], site["is_private"], site["visible"], site["lang"]) == (False, False, True, "en")
    assert site["post_count"] == 5
    assert site["icon"]["media_id"] == 12
    assert site["options"]["timezone"] == "Europe/London"
    assert site["options"]["admin_url"] == "https://alicecooks.wordpress.com/wp-admin/"
    assert site["meta"]["links"]["self"].endswith(f"/rest/v1.1/sites/{ALICE_COOKS}")
    assert api.get(f"/sites/{ALICE_COOKS}", token).json() == site
    unknown = api.get("/sites/nobody.wordpress.com", token)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown_blog", "message": "Unknown blog"})


# --- posts: reading ---------------------------------------------------------------------------------


def test_posts_list_pages_and_page_handles(api: Api) -> None:
    token = api.token()
    first = api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2).json()
    assert first["found"] == 5
    assert [post["ID"] for post in first["posts"]] == [63, 58]
    assert first["meta"]["next_page"] == "value=2024-04-22T07%3A45%3A00%2B00%3A00&id=58"
    second = api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2, page_handle=first["meta"]["next_page"]).json()
    assert [post["ID"] for post in second["posts"]] == [47, 34]
    third = api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2, page_handle=second["meta"]["next_page"]).json()
    assert [post["ID"] for post in third["posts"]] == [21]
    assert "meta" not in third
    paged = api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2, page=2).json()
    assert ([post["ID"] for post in paged["posts"]], paged["found"], "meta" in paged) == ([47, 34], 5, False)
    assert "meta" not in api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2, offset=1).json()
    assert ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=2, offset=3)) == [34, 21]
    assert ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, order="ASC", number=2)) == [21, 34]
    by_title = api.get(f"/sites/{ALICE_COOKS}/posts/", token, order_by="title", order="ASC")
    assert ids(by_title) == [63, 34, 21, 47, 58]
    assert ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, order_by="modified")) == [34, 63, 58, 47, 21]
    assert len(ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, number="abc"))) == 5  # PHP (int) -> default 20
    too_many = api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=101)
    assert too_many.status_code == 400
    assert too_many.json() == {
        "error": "invalid_number",
        "message": "The NUMBER parameter must be less than or equal to 100.",
    }


def test_posts_list_filters(api: Api) -> None:
    token = api.token()
    path = f"/sites/{ALICE_COOKS}/posts/"
    assert ids(api.get(path, token, tag="baking")) == [58, 34]
    assert ids(api.get(path, token, category="recipes")) == [47, 21]
    assert ids(api.get(path, token, search="FLOUR")) == [58, 34]
    assert ids(api.get(path, token, status="draft")) == [70]
    assert ids(api.get(path, token, status="any")) == [70, 63, 58, 47, 34, 21]
    assert ids(api.get(path, token, type="page")) == [72]
    assert ids(api.get(path, token, after="2024-03-01T00:00:00Z", before="2024-05-01")) == [58, 47]
    assert ids(api.get(path, token, modified_after="2024-05-31T00:00:00+00:00")) == [63, 34]
    unknown_type = api.get(path, token, type="product")
    assert (unknown_type.status_code, unknown_type.json()["error"]) == (404, "unknown_post_type")


def test_get_post_by_id_and_slug(api: Api) -> None:
    token = api.token()
    post = api.get(f"/sites/{ALICE_COOKS}/posts/21", token).json()
    assert (post["ID"], post["site_ID"], post["title"], post["slug"]) == (
        21,
        ALICE_COOKS,
        "Ten-minute garlic pasta",
        "ten-minute-garlic-pasta",
    )
    assert post["author"]["login"] == "alicebaker"
    assert post["author"]["email"] is False
    assert post["date"] == "2024-01-09T18:30:00+00:00"
    assert post["URL"] == "https://alicecooks.wordpress.com/2024/01/09/ten-minute-garlic-pasta/"
    assert post["content"] == "<p>Boil the pasta.</p>\n<p>Warm garlic in olive oil; toss and eat.</p>\n"
    assert sorted(post["tags"]) == ["pasta", "weeknight"]
    assert post["tags"]["pasta"]["slug"] == "pasta"
    assert list(post["categories"]) == ["Recipes"]
    assert (post["like_count"], post["i_like"], post["discussion"]["comment_count"]) == (2, False, 2)
    assert post["capabilities"] == {"publish_post": True, "delete_post": True, "edit_post": True}
    assert api.get(f"/sites/{ALICE_COOKS}/posts/slug:ten-minute-garlic-pasta", token).json() == post
    edit = api.get(f"/sites/{ALICE_COOKS}/posts/21", token, context="edit").json()
    assert edit["content"] == "Boil the pasta.\n\nWarm garlic in olive oil; toss and eat."
    featured = api.get(f"/sites/{ALICE_COOKS}/posts/58", token).json()
    assert featured["featured_image"].endswith("/files/190000101/2024/04/flour-scale.png")
    assert list(featured["attachments"]) == ["59"]
    bob = api.token("bobortega")
    spanish = api.get(f"/sites/{BOB_GARDEN}/posts/slug:como-empezar-un-huerto-en-el-balcon", bob).json()
    assert spanish["title"] == "Cómo empezar un huerto en el balcón"
    assert spanish["date"] == "2023-04-02T09:00:00-06:00"
    for missing in ("/posts/999", "/posts/59", "/posts/slug:nope"):
        response = api.get(f"/sites/{ALICE_COOKS}{missing}", token)
        assert (response.status_code, response.json()) == (404, {"error": "unknown_post", "message": "Unknown post"})


# --- posts: writing ---------------------------------------------------------------------------------


def as_multipart(body: dict[str, str]) -> dict[str, Any]:
    return {"files": [(name, (None, value)) for name, value in body.items()]}


@pytest.mark.parametrize(
    ("send", "media_type"),
    [
        pytest.param(lambda body: {"json": body}, "application/json", id="json"),
        pytest.param(lambda body: {"data": body}, "application/x-www-form-urlencoded", id="form"),
        pytest.param(as_multipart, "multipart/form-data", id="multipart"),
    ],
)
def test_create_post(api: Api, sandbox: WordPressSandbox, send: Any, media_type: str) -> None:
    token = api.token()
    body = {"title": "Quick pickles", "content": "Vinegar, sugar, salt.", "tags": "pickles, weeknight"}
    body["categories"] = "Preserves"
    created = api.post(f"/sites/{ALICE_COOKS}/posts/new", token, **send(body))
    assert sandbox.state.recorded_requests()[-1].headers["Content-Type"].startswith(media_type)
    assert created.status_code == 200, created.text
    post = created.json()
    assert (post["ID"], post["title"], post["slug"], post["status"], post["type"]) == (
        73,
        "Quick pickles",
        "quick-pickles",
        "publish",
        "post",
    )
    assert post["date"] == "2024-07-01T12:00:00+00:00"
    assert sorted(post["tags"]) == ["pickles", "weeknight"]
    assert post["tags"]["weeknight"]["ID"] == 5  # existing tag reused, new one created
    assert list(post["categories"]) == ["Preserves"]
    fetched = api.get(f"/sites/{ALICE_COOKS}/posts/73", token).json()
    assert (fetched["title"], sorted(fetched["tags"]), list(fetched["categories"])) == (
        "Quick pickles",
        ["pickles", "weeknight"],
        ["Preserves"],
    )
    assert ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, tag="pickles")) == [73]
    assert api.get(f"/sites/{ALICE_COOKS}", token).json()["post_count"] == 6


def test_create_post_with_arrays_and_options(api: Api) -> None:
    token = api.token()
    form = [("title", "Draft idea"), ("tags[]", "one"), ("tags[]", "two"), ("status", "draft")]
    form += [("discussion[comments_open]", "0"), ("sticky", "true"), ("format", "quote")]
    draft = api.post(f"/sites/{ALICE_COOKS}/posts/new", token, data=form).json()
    assert (draft["status"], draft["slug"], sorted(draft["tags"]), draft["sticky"]) == (
        "draft",
        "",
        ["one", "two"],
        True,
    )
    assert draft["discussion"]["comments_open"] is False
    assert (draft["format"], list(draft["categories"])) == ("quote", ["Uncategorized"])
    body = {
        "title": "Later",
        "date": "2030-01-01T00:00:00Z",
        "categories": [2, "Brand new"],
        "metadata": [{"key": "k", "value": "v"}],
    }
    scheduled = api.post(f"/sites/{ALICE_COOKS}/posts/new", token, json=body).json()
    assert (scheduled["status"], sorted(scheduled["categories"])) == ("future", ["Brand new", "Recipes"])
    assert [(item["key"], item["value"]) for item in scheduled["metadata"]] == [("k", "v")]
    page = api.post(
        f"/sites/{ALICE_COOKS}/posts/new", token, json={"title": "Contact", "type": "page", "parent": 72}
    ).json()
    assert (page["type"], page["parent"]["ID"], page["URL"]) == (
        "page",
        72,
        "https://alicecooks.wordpress.com/contact/",
    )


def test_create_post_needs_title_content_or_excerpt(api: Api) -> None:
    token = api.token()
    invalid = {"error": "invalid_input", "message": "Invalid request input"}
    for kwargs in ({"json": {"tags": "x"}}, {"data": "{not json", "headers": {"Content-Type": "application/json"}}):
        response = api.post(f"/sites/{ALICE_COOKS}/posts/new", token, **kwargs)
        assert (response.status_code, response.json()) == (400, invalid)
    assert api.get(f"/sites/{ALICE_COOKS}", token).json()["post_count"] == 5


def test_update_post(api: Api) -> None:
    token = api.token()
    updated = api.post(
        f"/sites/{ALICE_COOKS}/posts/21", token, json={"title": "Twelve-minute pasta", "tags": ["pasta"]}
    )
    assert updated.status_code == 200, updated.text
    post = updated.json()
    assert (post["title"], sorted(post["tags"]), list(post["categories"])) == (
        "Twelve-minute pasta",
        ["pasta"],
        ["Recipes"],
    )
    assert post["slug"] == "ten-minute-garlic-pasta"
    assert post["modified"] == "2024-07-01T12:00:00+00:00"
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21", token).json()["title"] == "Twelve-minute pasta"
    published = api.post(f"/sites/{ALICE_COOKS}/posts/70", token, data={"status": "publish"}).json()
    assert (published["status"], published["slug"]) == ("publish", "lemon-tart")
    invalid = {"error": "invalid_input", "message": "Invalid request input"}
    for kwargs in ({"json": {}}, {"data": {"unknown_field": "x"}}, {}):
        empty = api.post(f"/sites/{ALICE_COOKS}/posts/21", token, **kwargs)
        assert (empty.status_code, empty.json()) == (400, invalid)
    missing = api.post(f"/sites/{ALICE_COOKS}/posts/999", token, json={"title": "x"})
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_post")


def test_delete_post_trashes_then_deletes(api: Api) -> None:
    token = api.token()
    trashed = api.post(f"/sites/{ALICE_COOKS}/posts/21/delete", token)
    assert (trashed.status_code, trashed.json()["ID"], trashed.json()["status"]) == (200, 21, "trash")
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21", token).json()["status"] == "trash"
    assert 21 not in ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token))
    assert ids(api.get(f"/sites/{ALICE_COOKS}/posts/", token, status="trash")) == [21]
    deleted = api.post(f"/sites/{ALICE_COOKS}/posts/21/delete", token)
    assert (deleted.status_code, deleted.json()["ID"], deleted.json()["status"]) == (200, 21, "deleted")
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21", token).status_code == 404
    assert api.post(f"/sites/{ALICE_COOKS}/posts/21/delete", token).status_code == 404
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21/replies/", token).status_code == 404


# --- likes and comments -------------------------------------------------------------------------------


def test_post_likes(api: Api) -> None:
    token = api.token()
    likes = api.get(f"/sites/{ALICE_COOKS}/posts/21/likes/", token).json()
    assert {key: likes[key] for key in ("found", "i_like", "can_like", "site_ID", "post_ID")} == {
        "found": 2,
        "i_like": False,
        "can_like": True,
        "site_ID": ALICE_COOKS,
        "post_ID": 21,
    }
    assert [(like["login"], like["date_liked"]) for like in likes["likes"]] == [
        ("carolnguyen", "2024-01-11 12:00:00"),
        ("bobortega", "2024-01-10 07:55:00"),
    ]
    assert set(likes["likes"][0]) == {"ID", "login", "name", "avatar_URL", "profile_URL", "site_ID", "date_liked"}
    assert api.get(f"/sites/{ALICE_COOKS}/posts/47/likes/", token).json()["i_like"] is True
    assert api.get(f"/sites/{ALICE_COOKS}/posts/999/likes/", token).json()["error"] == "unknown_post"


def test_comments_and_replies(api: Api) -> None:
    token = api.token()
    comments = api.get(f"/sites/{ALICE_COOKS}/comments/", token).json()
    assert (comments["found"], comments["site_ID"]) == (3, ALICE_COOKS)
    assert [comment["ID"] for comment in comments["comments"]] == [3, 2, 1]
    guest = comments["comments"][0]
    assert (guest["author"]["ID"], guest["author"]["name"], guest["status"], guest["type"]) == (
        0,
        "Dana Fox",
        "approved",
        "comment",
    )
    assert guest["post"] == {
        "ID": 34,
        "title": "Sourdough starter, day one",
        "type": "post",
        "link": f"{api.sandbox.origin}/rest/v1.1/sites/{ALICE_COOKS}/posts/34",
    }
    assert guest["content"] == "<p>How warm should the kitchen be?</p>\n"
    assert guest["URL"] == "https://alicecooks.wordpress.com/2024/02/03/sourdough-starter-day-one/#comment-3"
    everything = api.get(f"/sites/{ALICE_COOKS}/comments/", token, status="all", order="ASC").json()
    assert [(c["ID"], c["status"]) for c in everything["comments"]] == [
        (1, "approved"),
        (2, "approved"),
        (3, "approved"),
        (4, "spam"),
        (5, "unapproved"),
    ]
    replies = api.get(f"/sites/{ALICE_COOKS}/posts/21/replies/", token).json()
    assert [(c["ID"], c["parent"] and c["parent"]["ID"]) for c in replies["comments"]] == [(2, 1), (1, False)]
    assert replies["comments"][0]["like_count"] == 1
    assert api.get(f"/sites/{ALICE_COOKS}/posts/999/replies/", token).status_code == 404


# --- media ----------------------------------------------------------------------------------------------


def test_media_upload_and_file_serving(api: Api) -> None:
    token, image = api.token(), png_1x1()
    files = [("media[]", ("red dot.png", image, "image/png"))]
    form = {"attrs[0][title]": "Red dot", "attrs[0][alt]": "A red dot", "attrs[0][caption]": "Tiny"}
    uploaded = api.post(f"/sites/{ALICE_COOKS}/media/new", token, files=files, data=form)
    assert uploaded.status_code == 200, uploaded.text
    [item] = uploaded.json()["media"]
    assert (item["ID"], item["file"], item["mime_type"], item["extension"]) == (73, "red-dot.png", "image/png", "png")
    assert (item["width"], item["height"], item["title"], item["alt"], item["caption"]) == (
        1,
        1,
        "Red dot",
        "A red dot",
        "Tiny",
    )
    assert (item["post_ID"], item["author_ID"], item["description"]) == (0, ALICE, "")
    assert item["URL"] == f"{api.sandbox.origin}/files/{ALICE_COOKS}/2024/07/red-dot.png" == item["guid"]
    assert item["date"] == "2024-07-01T12:00:00+00:00"
    public = api.http.get(item["URL"])  # public site: no token needed, as on files.wordpress.com
    assert (public.status_code, public.headers["Content-Type"], public.content) == (200, "image/png", image)
    through_api = api.get(f"/sites/{ALICE_COOKS}/media/73/file", token)
    assert (through_api.status_code, through_api.headers["Content-Type"], through_api.content) == (
        200,
        "image/png",
        image,
    )
    assert api.get(f"/sites/{ALICE_COOKS}/media/73", token).json() == item
    again = api.post(f"/sites/{ALICE_COOKS}/media/new", token, files=files).json()["media"][0]
    assert (again["file"], again["title"]) == ("red-dot-1.png", "red-dot")
    assert api.get(f"/sites/{ALICE_COOKS}/media/999", token).json()["error"] == "unknown_media"
    assert api.http.get(f"{api.sandbox.origin}/files/{ALICE_COOKS}/2024/07/nope.png").status_code == 404


def test_media_upload_errors(api: Api) -> None:
    token = api.token()
    nothing = api.post(f"/sites/{ALICE_COOKS}/media/new", token, data={"title": "x"})
    assert (nothing.status_code, nothing.json()) == (
        400,
        {"error": "invalid_input", "message": "No media provided in input."},
    )
    script = api.post(f"/sites/{ALICE_COOKS}/media/new", token, files={"media[]": ("x.html", b"<script>", "text/html")})
    assert script.status_code == 400
    assert script.json()["errors"][0]["error"] == "upload_error"


def test_private_site_files_need_a_token(api: Api) -> None:
    token = api.token(site=ALICE_TRAVELS)
    files = {"media[]": ("map.png", png_1x1(), "image/png")}
    url = api.post(f"/sites/{ALICE_TRAVELS}/media/new", token, files=files).json()["media"][0]["URL"]
    assert api.http.get(url).status_code == 403
    assert api.call("GET", url, api.token(site=ALICE_COOKS)).status_code == 403
    assert api.call("GET", url, token).content == png_1x1()


# --- access control -------------------------------------------------------------------------------------


def test_single_blog_token_reaches_its_blog_only(api: Api) -> None:
    token = api.token(site=ALICE_COOKS)
    assert api.get(f"/sites/{ALICE_COOKS}/posts/", token).status_code == 200
    for path in (f"/sites/{BOB_GARDEN}", f"/sites/{BOB_GARDEN}/posts/", f"/sites/{ALICE_TRAVELS}/posts/11"):
        denied = api.get(path, token)
        assert (denied.status_code, denied.json()) == (403, PRIVATE_BLOG), path
    write = api.post(f"/sites/{BOB_GARDEN}/posts/new", token, json={"title": "Hijack"})
    assert (write.status_code, write.json()) == (403, {"error": "unauthorized", "message": "User cannot publish posts"})
    upload = api.post(f"/sites/{BOB_GARDEN}/media/new", token, files={"media[]": ("a.png", png_1x1(), "image/png")})
    assert upload.json() == {"error": "unauthorized", "message": "User cannot upload media."}
    assert api.get(f"/sites/{BOB_GARDEN}/posts/", api.token("bobortega")).status_code == 200


def test_global_token_reaches_all_the_users_sites(api: Api) -> None:
    token = api.token(scope="global")
    assert api.get(f"/sites/{ALICE_COOKS}/posts/", token).status_code == 200
    assert ids(api.get(f"/sites/{ALICE_TRAVELS}/posts/", token, status="any")) == [15, 11]
    for site in (BOB_GARDEN, CAROL_CODES):
        denied = api.get(f"/sites/{site}/posts/", token)
        assert (denied.status_code, denied.json()) == (403, PRIVATE_BLOG)


def test_auth_scope_and_granular_scopes(api: Api) -> None:
    auth = api.token(scope="auth")
    denied = api.get(f"/sites/{ALICE_COOKS}/posts/", auth)
    assert (denied.status_code, denied.json()["error"]) == (403, "unauthorized")
    posts_only = api.token(scope="posts")
    assert api.get(f"/sites/{ALICE_COOKS}/posts/", posts_only).status_code == 200
    assert api.post(f"/sites/{ALICE_COOKS}/posts/new", posts_only, json={"title": "ok"}).status_code == 200
    for method, path in (("GET", ""), ("GET", "/comments/"), ("POST", "/media/new")):
        response = api.call(method, f"/sites/{ALICE_COOKS}{path}", posts_only)
        assert response.status_code == 403, path
        assert response.json()["message"].startswith("This access token's scope does not allow access to")
    media = api.token(scope="media,comments")
    assert api.get(f"/sites/{ALICE_COOKS}/comments/", media).status_code == 200
    assert api.get(f"/sites/{ALICE_COOKS}/media/59", media).status_code == 200
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21", media).status_code == 403


def test_missing_or_invalid_token(api: Api) -> None:
    missing = api.get(f"/sites/{ALICE_COOKS}/posts/", None)
    assert (missing.status_code, missing.json()["error"]) == (403, "authorization_required")
    invalid = api.get(f"/sites/{ALICE_COOKS}/posts/", "not-a-token")
    assert (invalid.status_code, invalid.json()["error"]) == (400, "invalid_token")


# --- generic options, versions, recording ---------------------------------------------------------------


def test_fields_http_envelope_and_versions(api: Api, sandbox: WordPressSandbox) -> None:
    token = api.token()
    listed = api.get(f"/sites/{ALICE_COOKS}/posts/", token, fields="ID,title", number=2).json()
    assert listed["posts"] == [{"ID": 63, "title": "Five pantry staples"}, {"ID": 58, "title": "Why I weigh my flour"}]
    assert listed["found"] == 5
    assert api.get(f"/sites/{ALICE_COOKS}/posts/21", token, fields="ID,slug").json() == {
        "ID": 21,
        "slug": "ten-minute-garlic-pasta",
    }
    likes = api.get(f"/sites/{ALICE_COOKS}/posts/21/likes/", token, fields="login").json()
    assert likes["likes"] == [{"login": "carolnguyen"}, {"login": "bobortega"}]
    enveloped = api.get(f"/sites/{ALICE_COOKS}/posts/999", token, http_envelope="1")
    assert enveloped.status_code == 200
    assert enveloped.json()["code"] == 404
    assert enveloped.json()["body"] == {"error": "unknown_post", "message": "Unknown post"}
    for version in ("1", "1.2"):
        url = f"{sandbox.origin}/rest/v{version}/sites/{ALICE_COOKS}/posts/21"
        assert api.call("GET", url, token).json()["ID"] == 21
    unknown = api.get(f"/sites/{ALICE_COOKS}/widgets", token)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_endpoint")
    sandbox.state.clear_recorded_requests()
    api.get(f"/sites/{ALICE_COOKS}/posts/", token, number=1)
    [recorded] = sandbox.state.recorded_requests("/rest/")
    assert (recorded.path, recorded.query, recorded.headers["Authorization"]) == (
        f"/rest/v1.1/sites/{ALICE_COOKS}/posts/",
        {"number": "1"},
        "Bearer <redacted>",
    )
