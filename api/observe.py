"""Request latency into the server's metrics, labelled by route template (never the raw path).

Plain ASGI: the time from the request to its response's start (a streamed log follow counts
until its headers, not for hours); nothing is buffered or wrapped.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from argus.metrics.server import ServerMetrics


class Timing:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics
        self._children: dict[tuple[str, str, int], Any] = {}  # labels() is a locked lookup

    def _child(self, method: str, template: str, status: int) -> Any:
        key = (method, template, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metrics.http.labels(method, template, str(status))
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = getattr(scope.get("route"), "path", None) or "unmatched"
                self._child(scope["method"], template, message["status"]).observe(
                    time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, timed)
