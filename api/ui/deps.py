"""What every UI route shares: the signed-in viewer, CSRF checks, template rendering.

``ui_acting("task.cancel")`` is the UI's twin of :func:`api.auth.acting`: it starts the
request's audit entry and authenticates the session's token (by its hash: a session keeps no
token) through the same cached ``Principals`` as the API (argus/services/identity.py); the
permission checks are the services' own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.auth import new_entry
from api.context import get_ctx
from api.ui.sessions import CSRF_HEADER, SESSION_COOKIE, SessionStore, UiSession, same
from argus.authz import ACTIONS, Principal, allows
from argus.db.audit import RequestAudit
from argus.errors import Forbidden, Unauthorized

TEMPLATES = Path(__file__).parent / "templates"
NAV = [("tasks", "Tasks", "task.list"), ("submit", "Submit", "task.submit"),
       ("queue", "Queue", "task.list"), ("files", "Files", "file.read"), ("nodes", "Nodes", "node.read"),
       ("audit", "Audit", "audit.read"), ("usage", "Usage", "report.read"), ("admin", "Access", "token.read")]


class NeedsLogin(Exception):
    """No live session: the page answers with a redirect to /ui/login (JSON calls: 401)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as templates see them: who, and what the permission table lets them do."""

    principal: Principal
    session: UiSession

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def team(self) -> str | None:
        return self.principal.team

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def can(self, action: str, owner: str | None = None, team: str | None = None, *,
            anywhere: bool = False) -> bool:
        """Whether to offer ``action``: on a target (owner, team), or on anything (``anywhere``)."""
        if anywhere:
            return self.principal.scope(action) is not None
        return allows(self.principal, action, owner=owner, team=team)


def sessions(request: Request) -> SessionStore:
    return request.app.state.ui_sessions


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["NAV"] = NAV
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.ui_templates
    viewer = getattr(request.state, "ui_viewer", None)
    nav = [item for item in NAV if viewer is not None and viewer.can(item[2], anywhere=True)]
    body = env.get_template(template).render(me=viewer, nav=nav, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status_code)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(target, safe='')}"


def audit_entry(request: Request, action: str) -> RequestAudit:
    entry = new_entry(request, action)  # the server's request id, the trusted source address
    request.state.audit = entry
    return entry


async def _check_csrf(request: Request, session: UiSession) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf")
    if not same(sent if isinstance(sent, str) else None, session.csrf):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")


def ui_acting(action: str) -> Callable[[Request], Awaitable[Viewer]]:
    """Dependency: the signed-in viewer, ``action`` noted for the audit trail; POSTs need CSRF."""
    if action not in ACTIONS and not action.startswith("ui."):
        raise ValueError(f"unknown action {action}")

    async def dependency(request: Request) -> Viewer:
        entry = audit_entry(request, action)
        store, sid = sessions(request), request.cookies.get(SESSION_COOKIE)
        session = store.cached(sid) or (await run_in_threadpool(store.get, sid) if sid else None)
        if session is None:
            raise NeedsLogin()
        try:
            principals = get_ctx(request).principals
            principal = principals.cached_hash(session.token_hash) or await run_in_threadpool(
                principals.authenticate_hash, session.token_hash)
        except Unauthorized as exc:
            await run_in_threadpool(store.drop, session.sid)
            raise NeedsLogin() from exc
        entry.actor, entry.token_name = principal.name, principal.token_name
        viewer = Viewer(principal, session)
        request.state.ui_viewer = viewer
        if request.method not in ("GET", "HEAD"):
            await _check_csrf(request, session)
        return viewer

    return dependency
