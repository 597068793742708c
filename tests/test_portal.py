"""The Connect Portal's server side: the page and its headers (CSP, frame-ancestors from the
project's allowed origins), its files, the integration's portal settings (admin API, validation,
what `/sdk/integrations` tells the SDK) and the end user's settings values (`sharedSettings`
through `PATCH /sdk/credentials/{id}`). The portal in a browser: tests/browser/portal.test.mjs."""

from __future__ import annotations

import re
from typing import Any

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox

SETTINGS_PATH = "/projects/{pid}/integrations/wordpress"
PORTAL = {
    "description": "Publish your articles to WordPress.com",
    "overview": "Line one.\nLine <b>two</b>.",
    "accentColor": "#0A7C4A",
    "userSettings": [
        {"id": "category", "title": "Category", "type": "text", "placeholder": "News"},
        {"id": "maxPosts", "title": "Posts a day", "type": "number", "defaultValue": 3},
        {"id": "draft", "title": "Save as draft", "type": "boolean"},
        {
            "id": "visibility",
            "title": "Visibility",
            "type": "dropdown",
            "required": True,
            "options": [{"label": "Public", "value": "public"}, {"label": "Private", "value": "private"}],
        },
    ],
}


def csp(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in policy.split(";")) if part}


def set_origins(api: Api, project: ProjectHandle, origins: list[str]) -> None:
    answer = api.call(
        "PUT", f"/projects/{project.id}/allowed-origins", body={"allowedOrigins": origins}, headers=project.admin
    )
    assert answer.status == 200, answer.body


def patch_portal(api: Api, project: ProjectHandle, portal: Any) -> Any:
    return api.call("PATCH", SETTINGS_PATH.format(pid=project.id), body={"portal": portal}, headers=project.admin)


def test_the_portal_page_may_be_framed_only_by_the_projects_allowed_origins(api: Api, project: ProjectHandle) -> None:
    set_origins(api, project, ["https://app.example.com", "http://localhost:3000"])
    page = api.call("GET", f"/connect/ui?projectId={project.id}")
    assert page.status == 200
    policy = csp(page)
    assert policy["frame-ancestors"] == "https://app.example.com http://localhost:3000"
    assert "X-Frame-Options" not in page.headers
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    body = page.body.decode()
    # No inline script or style: every <script> has a src on Tether's own path, no style attributes.
    assert re.findall(r"<script[^>]*>", body) == ['<script src="ui/assets/portal.js" defer>']
    assert "style=" not in body
    assert "<style" not in body
    assert f'data-project="{project.id}"' in body
    assert 'data-origins="https://app.example.com http://localhost:3000"' in body


def test_a_project_without_allowed_origins_and_the_first_load_frame_anywhere(api: Api, project: ProjectHandle) -> None:
    listed = api.call("GET", f"/connect/ui?projectId={project.id}")
    assert csp(listed)["frame-ancestors"] == "*"
    # The SDK's first load usually has no projectId: that page holds no project and shows nothing.
    first = api.call("GET", "/connect/ui")
    assert first.status == 200
    assert csp(first)["frame-ancestors"] == "*"
    assert 'data-project=""' in first.body.decode()


def test_an_unknown_project_gets_an_unframeable_error_page(api: Api, project: ProjectHandle) -> None:
    for query in ("projectId=00000000-0000-4000-8000-000000000000", "projectId=nope", "projectId=%3Cscript%3E"):
        page = api.call("GET", f"/connect/ui?{query}")
        assert page.status == 404, query
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert b"<script>" not in page.body


def test_portal_files_are_served_with_their_types_and_nothing_else(api: Api) -> None:
    expected = {
        "portal.js": "text/javascript; charset=utf-8",
        "portal.css": "text/css; charset=utf-8",
        "wordpress.svg": "image/svg+xml",
    }
    for name, content_type in expected.items():
        answer = api.call("GET", f"/connect/ui/assets/{name}")
        assert answer.status == 200, name
        assert answer.headers["Content-Type"] == content_type
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.body
    for name in ("portal.html", "secret.py", "..%2Fportal.py", "index"):
        assert_refused(api.call("GET", f"/connect/ui/assets/{name}"), status=404, code="portal_file_not_found")


def test_portal_assets_name_no_other_origin() -> None:
    """No external asset: the script, stylesheet and icon reference nothing outside Tether."""
    from chalicelib.api.portal import ASSET_DIR

    for path in ASSET_DIR.iterdir():
        text = path.read_text()
        urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+", text)
        assert [u for u in urls if u != "http://www.w3.org"] == [], path.name
        for banned in ("@import", "url(", "innerHTML", "insertAdjacentHTML", "eval(", "new Function"):
            assert banned not in text, (banned, path.name)


def test_portal_settings_are_validated_stored_and_given_to_the_sdk(api: Api, project: ProjectHandle) -> None:
    answer = patch_portal(api, project, PORTAL)
    assert answer.status == 200, answer.body
    stored = api.call("GET", SETTINGS_PATH.format(pid=project.id), headers=project.admin).json["portal"]
    assert stored["accentColor"] == "#0a7c4a"
    assert stored["description"] == PORTAL["description"]
    assert [item["id"] for item in stored["userSettings"]] == ["category", "maxPosts", "draft", "visibility"]

    # A PATCH without `portal` keeps it.
    assert (
        api.call("PATCH", SETTINGS_PATH.format(pid=project.id), body={"active": True}, headers=project.admin).status
        == 200
    )
    [wordpress] = [
        i
        for i in api.call("GET", f"/projects/{project.id}/sdk/integrations", token=project.token()).json
        if i["type"] == "wordpress"
    ]
    values = wordpress["configs"][0]["values"]
    assert values["description"] == PORTAL["description"]
    assert values["overview"] == PORTAL["overview"]
    assert values["accentColor"] == "#0a7c4a"
    inputs = values["sharedMeta"]["inputs"]
    assert [(i["id"], i["type"]) for i in inputs] == [
        ("category", "TEXT_NO_VARS"),
        ("maxPosts", "NUMBER"),
        ("draft", "BOOLEAN_INPUT"),
        ("visibility", "CUSTOM_DROPDOWN"),
    ]
    assert inputs[3]["customDropdownOptions"] == PORTAL["userSettings"][3]["options"]
    assert inputs[3]["required"] is True
    assert inputs[1]["defaultValue"] == 3


def test_bad_portal_settings_list_every_problem_and_change_nothing(api: Api, project: ProjectHandle) -> None:
    assert patch_portal(api, project, PORTAL).status == 200
    bad = {
        "description": "two\nlines",
        "accentColor": "red; background: url(x)",
        "userSettings": [
            {"id": "1abc", "title": "x", "type": "text"},
            {"id": "pick", "title": "Pick", "type": "dropdown", "options": []},
            {"id": "n", "title": "N", "type": "number", "defaultValue": "three"},
            {"id": "n2", "title": "N", "type": "date"},
        ],
        "logo": "https://cdn.example.com/x.png",
    }
    answer = patch_portal(api, project, bad)
    assert_refused(answer, status=400, code="invalid_field")
    message = answer.json["message"]
    for words in (
        "unknown field(s) logo",
        "description",
        "accentColor",
        "userSettings[0].id",
        "userSettings[1].options",
        "userSettings[2].defaultValue",
        "userSettings[3].type",
    ):
        assert words in message, (words, message)
    stored = api.call("GET", SETTINGS_PATH.format(pid=project.id), headers=project.admin).json["portal"]
    assert stored["accentColor"] == "#0a7c4a"
    assert_refused(patch_portal(api, project, "text"), status=400, code="invalid_field")
    duplicate = {"userSettings": [{"id": "a", "title": "A", "type": "text"}, {"id": "a", "title": "B", "type": "text"}]}
    assert "used twice" in patch_portal(api, project, duplicate).json["message"]


def test_user_settings_values_are_checked_stored_and_shown_to_the_sdk(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    assert patch_portal(api, project, PORTAL).status == 200
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    token = project.token("alice")
    path = f"/projects/{project.id}/sdk/credentials/{credential_id}"
    values = {"category": "Travel", "maxPosts": 5, "draft": True, "visibility": "private", "gone": "dropped"}
    answer = api.call("PATCH", path, token=token, body={"config": {"sharedSettings": values}})
    assert answer.status == 200, answer.body
    expected = {"category": "Travel", "maxPosts": 5, "draft": True, "visibility": "private"}
    assert answer.json["configurations"][0]["sharedSettings"] == expected
    me = api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json["integrations"]["wordpress"]
    assert me["allCredentials"][0]["configurations"][0]["sharedSettings"] == expected
    assert me["sharedSettings"] == expected
    # Another user sees none of it.
    other = api.call("GET", f"/projects/{project.id}/sdk/me", token=project.token("bob")).json
    assert other["integrations"]["wordpress"]["sharedSettings"] == {}

    for wrong, words in (
        ({"maxPosts": "five"}, "Setting 'Posts a day' must be a number."),
        ({"draft": "yes"}, "Setting 'Save as draft' must be true or false."),
        ({"visibility": "secret"}, "Setting 'Visibility' must be one of the dropdown's values."),
        ({"category": "x" * 3000}, "Setting 'Category' must be text"),
    ):
        refused = api.call("PATCH", path, token=token, body={"config": {"sharedSettings": wrong}})
        assert_refused(refused, status=400, code="invalid_setting")
        assert words in refused.json["message"]
    assert_refused(
        api.call("PATCH", path, token=token, body={"config": {"sharedSettings": [1]}}),
        status=400,
        code="invalid_setting",
    )
    assert_refused(api.call("PATCH", path, token=token, body={"config": {}}), status=400, code="invalid_field")
    # Nothing changed by the refusals; a null clears one value.
    cleared = api.call("PATCH", path, token=token, body={"config": {"sharedSettings": {**expected, "category": None}}})
    assert cleared.json["configurations"][0]["sharedSettings"] == {
        "maxPosts": 5,
        "draft": True,
        "visibility": "private",
    }


def test_a_credential_read_after_connecting_carries_the_users_settings(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    """After a connect the SDK replaces its copy of the credential with `GET /sdk/credentials/{id}`:
    the portal draws the workflow switches and settings from it, so it must carry them."""
    assert patch_portal(api, project, PORTAL).status == 200
    definition = {
        "name": "Digest",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": {"type": "app_event", "event": "digest"},
        "steps": [{"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"}],
    }
    deployed = api.call("PUT", f"/projects/{project.id}/workflows/digest", body=definition, headers=project.admin)
    assert deployed.status == 200, deployed.body
    credential_id = connect_flow.connect(api, project, sandbox, "alice")
    token = project.token("alice")
    path = f"/projects/{project.id}/sdk/credentials/{credential_id}"
    saved = {"config": {"sharedSettings": {"category": "Food"}}}
    assert api.call("PATCH", path, token=token, body=saved).status == 200
    for answer in (
        api.call("GET", path, token=token).json,
        api.call("GET", f"/projects/{project.id}/sdk/credentials?integration=wordpress", token=token).json[0],
    ):
        configuration = answer["configurations"][0]
        assert configuration["workflowSettings"] == {"digest": {"enabled": True, "settings": {}}}
        assert configuration["sharedSettings"] == {"category": "Food"}


def test_the_lambda_package_carries_the_portal_files() -> None:
    """The page and its files are package data read at run time: `chalice package` must ship them."""
    import zipfile

    from chalicelib.api.portal import ASSET_DIR
    from tests.packaged import offline_package

    with zipfile.ZipFile(offline_package() / "deployment.zip") as package:
        names = set(package.namelist())
    wanted = {f"chalicelib/portal/{path.name}" for path in ASSET_DIR.iterdir()}
    assert {"chalicelib/portal/portal.html", "chalicelib/portal/portal.js"} <= wanted
    assert wanted <= names
