"""JSON shapes of uploads: the v1.1 media item and the short attachment object of `post_thumbnail`."""

from __future__ import annotations

from typing import Any

from wpcom_sandbox.content import MediaItem
from wpcom_sandbox.view import View

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif")
THUMBNAIL_WIDTHS = {"thumbnail": 150, "medium": 300, "large": 1024}


def media_json(view: View, item: MediaItem) -> dict[str, Any]:
    """A media item as `/sites/$site/media/$ID` and `/media/new` show it (`height`/`width` for images)."""
    url = view.file_url(item.path)
    body: dict[str, Any] = {
        "ID": item.media_id,
        "URL": url,
        "guid": url,
        "date": view.date(item.date),
        "post_ID": item.post_id,
        "author_ID": item.author_id,
        "file": item.file,
        "mime_type": item.mime_type,
        "extension": item.extension,
        "title": item.title,
        "caption": item.caption,
        "description": item.description,
        "alt": item.alt,
        "thumbnails": {},
    }
    if item.extension in IMAGE_EXTENSIONS:
        if item.width is not None and item.height is not None:
            body["height"], body["width"] = item.height, item.width
        body["thumbnails"] = {name: f"{url}?w={width}" for name, width in THUMBNAIL_WIDTHS.items()}
    links = {
        "self": view.link(f"/media/{item.media_id}"),
        "help": view.link(f"/media/{item.media_id}/help"),
        "site": view.link(),
    }
    if item.post_id:
        links["parent"] = view.link(f"/posts/{item.post_id}")
    body["meta"] = {"links": links}
    return body


def attachment_json(view: View, item: MediaItem) -> dict[str, Any]:
    """The short attachment object (a post's `post_thumbnail`)."""
    url = view.file_url(item.path)
    return {
        "ID": item.media_id,
        "URL": url,
        "guid": url,
        "mime_type": item.mime_type,
        "width": item.width or 0,
        "height": item.height or 0,
    }
