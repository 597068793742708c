"""The end user id a token's `sub` carries: its limits at their edges and what it may contain."""

from __future__ import annotations

import pytest

from chalicelib.services.user_tokens import MAX_USER_ID_CHARS
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused, me


@pytest.mark.parametrize("user_id", ["x" * MAX_USER_ID_CHARS, "Ada Lovelace", " padded ", "ü-ñ~!"])
def test_usable_user_ids_are_accepted_as_given(api: Api, project: ProjectHandle, user_id: str) -> None:
    response = me(api, project, project.token(user_id))
    assert response.status == 200, response.body
    assert response.json["id"] == user_id


def test_a_user_id_one_over_the_limit_is_refused(api: Api, project: ProjectHandle) -> None:
    response = me(api, project, project.token("x" * (MAX_USER_ID_CHARS + 1)))
    assert_refused(response, code="invalid_token")
    assert response.json["message"] == f"The 'sub' claim must be a string of 1 to {MAX_USER_ID_CHARS} characters."


@pytest.mark.parametrize("control", ["\x00", "\x1f", "\t", "\r", "\x7f", "\x85"])
def test_control_characters_in_the_user_id_are_refused(api: Api, project: ProjectHandle, control: str) -> None:
    response = me(api, project, project.token(f"user{control}1"))
    assert_refused(response, code="invalid_token")
    assert response.json["message"] == "The 'sub' claim contains control characters."
