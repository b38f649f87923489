"""Access (teams, users, grants, tokens — what the viewer's role reaches) and the audit trail."""

from __future__ import annotations

import time
from collections import deque
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.context import AppContext, Ctx
from api.ui.deps import Viewer, render, ui_acting
from argus.authz import GRANTABLE, ROLES, TEAM_ADMIN_GRANTS, require_action
from argus.errors import ArgusError
from argus.services import audit, identity

router = APIRouter(prefix="/ui", include_in_schema=False)
Name = Annotated[str, Form(max_length=64)]
AUDIT_ROWS = 300
DAY = 86400.0


def _access(ctx: AppContext, who: Viewer) -> dict[str, Any]:
    can = lambda action: who.can(action, anywhere=True)  # noqa: E731
    return {
        "teams": identity.list_teams(ctx.db, who.principal) if can("team.read") else [],
        "users": identity.list_users(ctx.db, who.principal) if can("user.read") else [],
        "tokens": identity.list_tokens(ctx.db, who.principal) if can("token.read") else [],
        "roles": TEAM_ADMIN_GRANTS if who.role == "team-admin" else ROLES,
        "grantable": sorted(GRANTABLE),
    }


def _page(request: Request, ctx: AppContext, who: Viewer, status: int = 200, **extra: Any) -> Response:
    return render(request, "admin.html", status, **_access(ctx, who),
                  **{"created": None, "error": "", "notice": "", **extra})


@router.get("/admin")
def admin_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("token.read"))],
               notice: Annotated[str, Query(max_length=200)] = "") -> Response:
    require_action(who.principal, "token.read")
    return _page(request, ctx, who, notice=notice)


def _done(message: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/admin?notice={message}", status_code=303)


def _refused(request: Request, ctx: AppContext, who: Viewer, exc: ArgusError) -> Response:
    if exc.http_status >= 500:
        raise exc
    return _page(request, ctx, who, exc.http_status, error=exc.message)


@router.post("/admin/teams")
def create_team(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("team.create"))],
                name: Name, description: Annotated[str, Form(max_length=500)] = "") -> Response:
    request.state.audit.params.update(name=name)
    try:
        identity.create_team(ctx.db, who.principal, name, description, audit=request.state.audit)
    except ArgusError as exc:
        return _refused(request, ctx, who, exc)
    return _done(f"team {name} created")


@router.post("/admin/users")
def create_user(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("user.create"))],
                name: Name, role: Name, team: Name = "") -> Response:
    request.state.audit.params.update(name=name, team=team or None, role=role)
    try:
        identity.create_user(ctx.db, who.principal, name, team=team or None, role=role,
                             audit=request.state.audit)
    except ArgusError as exc:
        return _refused(request, ctx, who, exc)
    return _done(f"user {name} created")


@router.post("/admin/users/{name}/grants")
def grant(name: str, request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("user.grant"))],
          action: Name, revoke: Annotated[str, Form(max_length=8)] = "") -> Response:
    request.state.audit.params.update(permission=action)
    try:
        if revoke:
            identity.revoke_grant(ctx.db, who.principal, name, action, audit=request.state.audit)
        else:
            identity.grant(ctx.db, who.principal, name, action, audit=request.state.audit)
    except ArgusError as exc:
        return _refused(request, ctx, who, exc)
    return _done(f"{action} {'taken from' if revoke else 'given to'} {name}")


@router.post("/admin/tokens")
def create_token(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("token.create"))],
                 user: Name, name: Name = "", expires: Annotated[str, Form(max_length=16)] = "") -> Response:
    """The answer shows the new secret once; it is stored only as a hash."""
    request.state.audit.params.update(user=user, name=name or None, expires=expires or None)
    try:
        seconds = identity.parse_duration(expires) if expires else None
        created = identity.create_token(ctx.db, who.principal, user, name=name or None,
                                        expires_in_s=seconds, audit=request.state.audit)
    except ArgusError as exc:
        return _refused(request, ctx, who, exc)
    response = _page(request, ctx, who, 201, created=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/tokens/{user}/{name}/revoke")
def revoke_token(user: str, name: str, request: Request, ctx: Ctx,
                 who: Annotated[Viewer, Depends(ui_acting("token.revoke"))]) -> Response:
    request.state.audit.target = f"token/{user}/{name}"
    try:
        identity.revoke_token(ctx.db, who.principal, user, name, audit=request.state.audit)
    except ArgusError as exc:
        return _refused(request, ctx, who, exc)
    return _done(f"token {user}/{name} revoked")


Filter = Annotated[str, Query(max_length=64)]


def _filters(since: str, until: str, user: str, action: str) -> dict[str, Any]:
    return {"since": audit.parse_time(since), "until": audit.parse_time(until),
            "user": user or None, "action": action or None}


@router.get("/audit")
def audit_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("audit.read"))],
               since: Filter = "", until: Filter = "", user: Filter = "", action: Filter = "",
               verify: bool = False) -> Response:
    """The newest entries that match (the last 24 h unless ``since`` says otherwise)."""
    require_action(who.principal, "audit.read")
    filters = _filters(since, until, user, action)
    if filters["since"] is None:
        filters["since"] = time.time() - DAY
    rows = list(deque(audit.entries(ctx.db, **filters), maxlen=AUDIT_ROWS))[::-1]
    checked = audit.verify(ctx.db) if verify else None
    query = request.url.query.replace("verify=true", "").strip("&")
    return render(request, "audit.html", rows=rows, checked=checked, limit=AUDIT_ROWS, query=query,
                  form={"since": since, "until": until, "user": user, "action": action})


@router.get("/audit/export")
def audit_export(ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("audit.read"))],
                 since: Filter = "", until: Filter = "", user: Filter = "", action: Filter = "",
                 format: Literal["csv", "jsonl"] = "csv") -> Response:  # noqa: A002 - the query's name
    require_action(who.principal, "audit.read")
    rows = audit.entries(ctx.db, **_filters(since, until, user, action))
    body = audit.as_csv(rows) if format == "csv" else audit.as_jsonl(rows)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="argus-audit.{format}"'})
