"""Request latency into the server's metrics, labelled by route template (never the raw path)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request

from argus.metrics.server import ServerMetrics


def install(app: FastAPI, metrics: ServerMetrics) -> None:
    @app.middleware("http")
    async def _timed(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.http.labels(request.method, template, str(response.status_code)).observe(
            time.perf_counter() - start)
        return response
