"""/ui/login and /ui/logout: an Argus token in, a session cookie out."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.context import get_ctx
from api.ui.deps import NAV, Viewer, audit_entry, render, sessions, ui_acting
from api.ui.sessions import LOGIN_COOKIE, SESSION_COOKIE, same
from argus.errors import Unauthorized
from argus.services import identity

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_TOKEN_CHARS = 512


def safe_next(target: str | None) -> str:
    """Only a path inside the UI (no open redirect to another site)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


@router.get("")
@router.get("/")
def index(request: Request, who: Annotated[Viewer, Depends(ui_acting("ui.index"))]) -> RedirectResponse:
    """The first page the viewer's role may open (an auditor lands on the audit trail)."""
    first = next((key for key, _label, action in NAV if who.can(action, anywhere=True)), "tasks")
    return RedirectResponse(f"/ui/{first}", status_code=303)


def _login_page(request: Request, *, error: str = "", status_code: int = 200, next_: str = "") -> Response:
    csrf = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", status_code, error=error, csrf=csrf, next=safe_next(next_))
    response.set_cookie(LOGIN_COOKIE, csrf, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/ui/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:  # noqa: A002 - the query's name
    if sessions(request).get(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_=next)


def _token_expiry(db, principal) -> float | None:  # noqa: ANN001
    mine = identity.list_tokens(db, principal, principal.name)
    return next((t["expires_at"] for t in mine if t["name"] == principal.token_name), None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)] = "",
                csrf: Annotated[str, Form(max_length=100)] = "",
                next: Annotated[str, Form(max_length=2000)] = "") -> Response:  # noqa: A002
    entry = audit_entry(request, "ui.login")
    if not same(csrf, request.cookies.get(LOGIN_COOKIE)):
        return _login_page(request, error="The sign-in form expired; please try again.",
                           status_code=403, next_=next)
    db = get_ctx(request).db
    try:
        principal = await run_in_threadpool(identity.authenticate, db, token.strip())
        expires = await run_in_threadpool(_token_expiry, db, principal)
    except Unauthorized as exc:
        return _login_page(request, error=f"Sign-in refused: {exc.message}.", status_code=401, next_=next)
    entry.actor, entry.token_name = principal.name, principal.token_name
    session = await run_in_threadpool(sessions(request).create, token.strip(), principal.name, expires)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session.sid, max_age=max(1, int(session.expires_at - time.time())),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui")
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Annotated[Viewer, Depends(ui_acting("ui.logout"))]) -> Response:
    sessions(request).drop(who.session.sid)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response
