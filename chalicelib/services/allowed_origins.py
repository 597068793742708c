"""Use cases: a project's allowed web origins, and who may open the connect popup.

A project that lists its origins gets CORS answers for those origins only, and the connect
popup's binding cookie is issued only to a popup that an allowed page opened. With no origins
listed any origin is answered (`*`) and any page can open the popup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.repositories import ProjectRepository
from chalicelib.domain.clock import utc_now_iso
from chalicelib.domain.errors import BadRequest, Forbidden
from chalicelib.domain.models import ProjectConfig
from chalicelib.domain.origins import InvalidOrigin, origin_of_url, origin_or_none, parse_origin
from chalicelib.domain.validation import check_fields

MAX_ALLOWED_ORIGINS = 50
FIELD = "allowedOrigins"


def parse_allowed_origins(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The `{"allowedOrigins": [...]}` body as canonical, de-duplicated origins, or a 400."""
    check_fields(body, allowed={FIELD}, required={FIELD})
    values = body[FIELD]
    if not isinstance(values, list):
        raise BadRequest(f"Field '{FIELD}' must be a list of origins (an empty list allows any).", code="invalid_field")
    return canonical_origins(values)


def canonical_origins(values: list[Any]) -> tuple[str, ...]:
    """Validate each value as an origin; answer them canonical, in order, without duplicates."""
    if len(values) > MAX_ALLOWED_ORIGINS:
        raise BadRequest(f"At most {MAX_ALLOWED_ORIGINS} allowed origins.", code="too_many_origins")
    origins: list[str] = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise BadRequest(f"{FIELD}[{index}] must be a string.", code="invalid_origin")
        try:
            origin = parse_origin(value)
        except InvalidOrigin as problem:
            shown = value if len(value) <= 80 else value[:80] + "…"
            raise BadRequest(
                f"{FIELD}[{index}] {shown!r} is not an origin: {problem}. Use scheme://host[:port].",
                code="invalid_origin",
            ) from None
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def set_allowed_origins(projects: ProjectRepository, project_id: str, origins: tuple[str, ...]) -> tuple[str, ...]:
    """Replace the project's allowed origins (already canonical); answer what is stored."""
    projects.put_allowed_origins(project_id, origins, utc_now_iso())
    return origins


def allowed_origins_view(origins: tuple[str, ...]) -> dict[str, Any]:
    """The admin API's answer."""
    return {FIELD: list(origins), "anyOrigin": not origins}


def check_popup_opener(config: ProjectConfig, headers: Mapping[str, str], target_origin: str) -> None:
    """Refuse (403) to bind a connect popup that no allowed page opened.

    The SDK opens the popup with `window.open` from the customer's page, so the browser's
    navigation carries `Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document` and a `Referer`
    naming that page (at least its origin, under the default `strict-origin-when-cross-origin`
    policy). Pages cannot forge these headers. Browsers without `Sec-Fetch-*` are judged by the
    `Referer` alone; a missing `Referer` is refused. No-op when the project lists no origins.
    """
    allowed = config.allowed_origins
    if not allowed:
        return
    mode = headers.get("sec-fetch-mode")
    dest = headers.get("sec-fetch-dest")
    site = headers.get("sec-fetch-site")
    if (mode is not None and mode != "navigate") or (dest is not None and dest != "document") or site == "none":
        raise Forbidden(
            "The connect window must be opened by your app's page (window.open), not embedded or typed in.",
            code="popup_not_opened_by_app",
        )
    opener = origin_of_url(headers.get("referer"))
    if opener is None:
        raise Forbidden(
            "The page that opened this window did not send its origin (Referer). Its Referrer-Policy must "
            "send at least the origin, e.g. the default strict-origin-when-cross-origin.",
            code="popup_opener_unknown",
        )
    if opener not in allowed:
        raise Forbidden(
            f"This window was opened from {opener}, which is not an allowed origin of this project.",
            code="popup_origin_not_allowed",
        )
    if target_origin not in allowed:
        raise Forbidden("originForPostMessage is not an allowed origin of this project.", code="origin_not_allowed")


def post_message_target(value: str | None) -> str:
    """The origin the popup page may post its `oauth-nonce-loaded` message to, or a 400.

    Only an http(s) origin: never `*`, a `javascript:` URL, a path or anything a script could
    be built from.
    """
    origin = origin_or_none(value)
    if origin is None:
        raise BadRequest(
            "originForPostMessage must be the http(s) origin of the page that opened this window.",
            code="invalid_origin_for_post_message",
        )
    return origin
