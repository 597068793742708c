"""The Chalice application class Tether uses: Chalice, with the current request kept per thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Request, Response

if TYPE_CHECKING:
    from chalice.local import LambdaContext


class ThreadSafeChalice(Chalice):
    """Chalice keeps the request being handled in `app.current_request` (and `lambda_context`), one
    attribute shared by every caller. Lambda handles one request at a time per container, but the
    local server answers each connection on a thread of its own: with a shared attribute one
    request's view could read another's headers (its user token or project key). Here both live in
    thread-local storage, so each thread sees its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._per_thread = threading.local()
        # Each rewrites an API Gateway event before routing, or answers it outright.
        self.event_adapters: list[Callable[[dict[str, Any]], dict[str, Any] | Response]] = []
        super().__init__(*args, **kwargs)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        """Lambda's entry point: the event adapters first, then chalice's routing."""
        for adapt in self.event_adapters:
            adapted = adapt(event)
            if isinstance(adapted, Response):
                answer: dict[str, Any] = adapted.to_dict(self.api.binary_types)
                return answer
            event = adapted
        result: dict[str, Any] = super().__call__(event, context)
        return result

    @property
    def current_request(self) -> Request | None:
        """The request this thread is handling."""
        return getattr(self._per_thread, "request", None)

    @current_request.setter
    def current_request(self, request: Request | None) -> None:
        self._per_thread.request = request

    @property
    def lambda_context(self) -> LambdaContext:
        """The Lambda context of the invocation this thread is handling."""
        context: LambdaContext = self._per_thread.context
        return context

    @lambda_context.setter
    def lambda_context(self, context: LambdaContext) -> None:
        self._per_thread.context = context
