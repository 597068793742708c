"""Workflow definitions shared by the workflow tests."""

from __future__ import annotations

from typing import Any

# DESIGN's pinned example.
PINNED_WORKFLOW: dict[str, Any] = {
    "name": "Post new articles",
    "integration": "wordpress",
    "defaultEnabled": False,
    "trigger": {"type": "app_event", "event": "article.published"},
    "steps": [
        {"id": "sites", "type": "request", "method": "GET", "path": "v1.1/me/sites"},
        {
            "id": "post",
            "type": "request",
            "method": "POST",
            "path": "v1.1/sites/{{ steps.sites.output.sites[0].ID }}/posts/new",
            "body": {"title": "{{ trigger.payload.title }}", "content": "{{ trigger.payload.body }}"},
        },
    ],
}


def slow_request_workflow(seconds: int) -> dict[str, Any]:
    """A request-triggered workflow that waits `seconds`, then answers `{"ok": true}`."""
    return {
        "name": "Slow",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": {"type": "request"},
        "steps": [
            {"id": "wait", "type": "delay", "seconds": seconds},
            {"id": "done", "type": "response", "status": 200, "body": {"ok": True}},
        ],
    }
