"""Uploaded files: allowed types, and serving the bytes at `GET /files/<site ID>/<yyyy>/<mm>/<file>`
(the sandbox's stand-in for `https://<site>.files.wordpress.com/<yyyy>/<mm>/<file>`).

Files of public sites are public; those of private sites need a bearer token that reaches the site
(as WordPress.com's apps send for private-site images).
"""

from __future__ import annotations

from urllib.parse import unquote

from wpcom_sandbox.content import MediaItem
from wpcom_sandbox.messages import Request, Response, json_response
from wpcom_sandbox.rest import RestCall, RestError, not_found_body
from wpcom_sandbox.site_access import site_grant
from wpcom_sandbox.state import SandboxState

FILES_PREFIX = "/files/"
MIME_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
    "m4v": "video/x-m4v",
    "mov": "video/quicktime",
}


def file_response(item: MediaItem) -> Response:
    """The stored bytes with their content type."""
    headers = [("X-Content-Type-Options", "nosniff"), ("Content-Disposition", f'inline; filename="{item.file}"')]
    return Response(200, item.data, item.mime_type, headers)


def serve_upload(state: SandboxState, request: Request, origin: str) -> Response:
    """Answer `GET /files/<site>/<yyyy>/<mm>/<file>` (`<site>` may also be the domain)."""
    if request.method != "GET":
        body = {"error": "not_allowed", "error_message": "Method not allowed"}
        return json_response(405, body, [("Allow", "GET")])
    parts = request.path[len(FILES_PREFIX) :].split("/")
    site = state.find_site(unquote(parts[0])) if len(parts) == 4 else None
    item = state.content.media_at(site.site_id, unquote("/".join(parts[1:]))) if site else None
    if site is None or item is None:
        return json_response(404, not_found_body())
    if site.is_private:
        call = RestCall(state, request, "1.1", {"site": str(site.site_id)}, origin)
        try:
            site_grant(call, "media")
        except RestError as error:
            return json_response(error.status, {"error": error.error, "message": error.message})
    return file_response(item)
