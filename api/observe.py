"""Request latency into the server's metrics, labelled by route template (never the raw path).

Plain ASGI: the time from the request to its response's start (a streamed log follow counts
until its headers, not for hours); nothing is buffered or wrapped.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from argus.metrics.server import ServerMetrics


class Timing:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = getattr(scope.get("route"), "path", None) or "unmatched"
                self.metrics.http.labels(scope["method"], template, str(message["status"])).observe(
                    time.perf_counter() - start)
            await send(message)

        await self.app(scope, receive, timed)
