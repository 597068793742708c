"""Media: `POST /sites/$site/media/new` (multipart `media[]`, `attrs[i][...]`), `GET .../media/$ID`,
and `GET .../media/$ID/file`, a sandbox-only endpoint answering the stored bytes through the API.

`media_urls[]` are not downloaded: each one is reported in `errors`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from wpcom_sandbox.bodies import Upload, as_list, read_body
from wpcom_sandbox.content import MediaItem
from wpcom_sandbox.dates import from_timestamp
from wpcom_sandbox.imaging import image_size
from wpcom_sandbox.media_json import IMAGE_EXTENSIONS, media_json
from wpcom_sandbox.messages import Response
from wpcom_sandbox.post_query import php_int
from wpcom_sandbox.rest import RestCall, RestError, RestReply, RestRouter
from wpcom_sandbox.site_access import site_grant
from wpcom_sandbox.uploads import MIME_TYPES, file_response
from wpcom_sandbox.view import View, view_for

NOT_PERMITTED = "Sorry, this file type is not permitted for security reasons."
EMPTY_FILE = "File is empty. Please upload something more substantial."
NO_DOWNLOADS = "The sandbox does not download media from URLs."


def _attrs(attrs: Any, index: int) -> dict[str, Any]:
    if isinstance(attrs, dict):
        found = attrs.get(str(index))
    elif isinstance(attrs, list) and index < len(attrs):
        found = attrs[index]
    else:
        found = None
    return found if isinstance(found, dict) else {}


def _safe_name(filename: str) -> str:
    base = re.split(r"[\\/]", filename)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")


def _store(view: View, upload: Upload, attrs: dict[str, Any], now: datetime) -> MediaItem | dict[str, str]:
    """Keep one uploaded file, or say why not (an `errors` entry)."""
    name = _safe_name(upload.filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in MIME_TYPES:
        return {"file": upload.filename, "error": "upload_error", "message": NOT_PERMITTED}
    if not upload.data:
        return {"file": upload.filename, "error": "upload_error", "message": EMPTY_FILE}
    size = image_size(upload.data) if extension in IMAGE_EXTENSIONS else None
    site_id = view.site.site_id
    parent = php_int(str(attrs.get("parent_id", "")))
    item = MediaItem(
        media_id=view.store.reserve_id(site_id),
        site_id=site_id,
        author_id=view.viewer_id,
        date=now,
        path=f"{now:%Y/%m}/{name}",
        mime_type=MIME_TYPES[extension],
        data=upload.data,
        post_id=parent if view.store.post(site_id, parent) else 0,
        title=str(attrs.get("title") or name.rsplit(".", 1)[0]),
        caption=str(attrs.get("caption") or ""),
        description=str(attrs.get("description") or ""),
        alt=str(attrs.get("alt") or ""),
        width=size[0] if size else None,
        height=size[1] if size else None,
    )
    return view.store.add_media(item)


def upload_media(call: RestCall) -> Any:
    """`{"media": [...], "errors"?: [...]}`; nothing sent -> 400 `invalid_input`, nothing kept -> 400 `{"errors"}`."""
    view = view_for(call, site_grant(call, "media", "User cannot upload media."))
    body = read_body(call.request)
    files = body.uploads("media")
    urls = [str(url) for url in as_list(body.fields.get("media_urls")) if str(url).strip()]
    if not files and not urls:
        raise RestError(400, "invalid_input", "No media provided in input.")
    now = from_timestamp(call.state.clock())
    media: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for index, upload in enumerate(files):
        result = _store(view, upload, _attrs(body.fields.get("attrs"), index), now)
        if isinstance(result, MediaItem):
            media.append(media_json(view, result))
        else:
            errors.append(result)
    errors += [{"file": url, "error": "upload_error", "message": NO_DOWNLOADS} for url in urls]
    if not media:
        return RestReply({"errors": errors}, 400)
    return {"media": media, "errors": errors} if errors else {"media": media}


def _item(call: RestCall) -> tuple[View, MediaItem]:
    view = view_for(call, site_grant(call, "media"))
    item = view.store.media_item(view.site.site_id, int(call.args["media_id"]))
    if item is None:
        raise RestError(404, "unknown_media", "Unknown Media")
    return view, item


def get_media(call: RestCall) -> dict[str, Any]:
    """`GET /sites/$site/media/$ID` (404 `unknown_media`)."""
    view, item = _item(call)
    return media_json(view, item)


def get_media_file(call: RestCall) -> Response:
    """`GET /sites/$site/media/$ID/file`: the stored bytes with their content type (sandbox only)."""
    return file_response(_item(call)[1])


def register(router: RestRouter) -> None:
    """Add the media endpoints to a route table."""
    router.add("POST", "/sites/{site}/media/new", upload_media)
    router.add("GET", "/sites/{site}/media/{media_id:int}", get_media)
    router.add("GET", "/sites/{site}/media/{media_id:int}/file", get_media_file)
