"""The REST route table the sandbox serves; add new endpoint modules here."""

from __future__ import annotations

from wpcom_sandbox import rest_me
from wpcom_sandbox.rest import RestRouter


def default_router() -> RestRouter:
    """Every REST endpoint the sandbox implements."""
    router = RestRouter()
    rest_me.register(router)
    return router
