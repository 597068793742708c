"""Webhook intake: `POST /hooks/{hook_id}`, authenticated by the delivery's signature alone."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from chalice.app import Blueprint, Response

from chalicelib.api.http import json_response, json_route, parse_json_text, query_params
from chalicelib.domain.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from chalicelib.services import webhooks as webhook_service
from chalicelib.wiring import get_services

webhooks = Blueprint(__name__)


@json_route(webhooks, "/hooks/{hook_id}", ["POST"])
def receive_delivery(hook_id: str) -> Response:
    """A signed delivery: `202 {"runIds": [...]}` (`skipped` says why no run started)."""
    services = get_services()
    request = webhooks.current_request
    body = request.raw_body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if len(body) > services.settings.max_proxy_body_bytes:
        raise PayloadTooLarge(f"The delivery's body exceeds {services.settings.max_proxy_body_bytes} bytes.")
    headers = {name.lower(): value for name, value in request.headers.items()}
    delivery = webhook_service.Delivery(
        hook_id=hook_id,
        body=body,
        payload=_parse_body(body, headers.get("content-type", "")),
        headers=headers,
        query=query_params(request),
    )
    answer = webhook_service.receive(
        webhook_service.WebhookPorts(services.run_ports, services.webhooks), delivery, services.clock()
    )
    return json_response(answer, status=202)


def _parse_body(body: bytes, content_type: str) -> Any:
    """JSON or form fields (a repeated field becomes a list); an empty body is `{}`."""
    if not body.strip():
        return {}
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The delivery's body is not UTF-8.", code="invalid_json") from None
    if media == "application/json" or media.endswith("+json"):
        return parse_json_text(text, "The delivery's body")
    if media == "application/x-www-form-urlencoded":
        fields: dict[str, Any] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            earlier = fields.get(name)
            if earlier is None:
                fields[name] = value
            else:
                fields[name] = [*(earlier if isinstance(earlier, list) else [earlier]), value]
        return fields
    raise UnsupportedMediaType("Webhook deliveries are JSON or form-encoded (application/x-www-form-urlencoded).")
