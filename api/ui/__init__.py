"""The web UI at /ui: server-rendered pages (Jinja2), one CSS and one JS file, no CDN.

Another adapter beside the REST routers: it authenticates a browser session and calls the same
services (argus/services/*) with the same permission table; it holds no business logic.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.ui import pages_admin, pages_auth, pages_cluster, pages_files, pages_submit, pages_tasks, pages_usage
from api.ui.deps import NeedsLogin, environment, login_url, render
from api.ui.sessions import SessionStore
from argus.db.engine import Database
from argus.errors import ArgusError
from argus.settings import Settings

STATIC = Path(__file__).parent / "static"
# Everything from this server, nothing inline, no framing: the pages work offline by construction.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _page_path(path: str) -> bool:
    return path.startswith("/ui") and not path.startswith(("/ui/api/", "/ui/static/"))


def _is_page(request: Request) -> bool:
    return _page_path(request.url.path)


class UiHeaders:
    """Security headers on everything under /ui (and no caching of pages). Plain ASGI: the API's
    requests pass it untouched, with no per-request wrapping (BaseHTTPMiddleware costs ~0.2 ms
    a request on the submit path)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/ui"):
            await self.app(scope, receive, send)
            return
        page = _page_path(path)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if page and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def _install_errors(app: FastAPI) -> None:
    """Pages answer errors as HTML; /ui/api/ keeps the one JSON error shape."""
    json_argus = app.exception_handlers[ArgusError]
    json_http = app.exception_handlers[StarletteHTTPException]

    async def argus_error(request: Request, exc: ArgusError) -> Response:
        if not _is_page(request):
            return await json_argus(request, exc)
        return render(request, "error.html", exc.http_status, title=exc.code.replace("_", " "),
                      message=exc.message)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_page(request):
            return await json_http(request, exc)
        return render(request, "error.html", exc.status_code, title=str(exc.status_code),
                      message=str(exc.detail))

    async def needs_login(request: Request, _exc: NeedsLogin) -> Response:
        if request.url.path.startswith("/ui/api/") or request.method != "GET":
            body = error_body(request, "unauthorized", "your session has ended; sign in again at /ui/login")
            return JSONResponse(body, 401)
        return RedirectResponse(login_url(request), status_code=303)

    app.add_exception_handler(ArgusError, argus_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(NeedsLogin, needs_login)


def install(app: FastAPI, settings: Settings, db: Database) -> None:
    app.state.ui_sessions = SessionStore(db, settings.ui_session_seconds,
                                         cache_s=settings.auth_recheck_seconds)
    app.state.ui_templates = environment()
    _install_errors(app)

    app.add_middleware(UiHeaders)

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    for module in (pages_auth, pages_tasks, pages_submit, pages_cluster, pages_files, pages_admin, pages_usage):
        app.include_router(module.router)
