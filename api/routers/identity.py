"""/v1/whoami, /v1/teams, /v1/users, /v1/tokens. Thin: logic and permissions are in services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import acting, audit_of, note
from api.context import AppContext, Ctx
from api.schemas import NewToken, TeamList, TeamOut, TokenList, TokenOut, UserList, UserOut, WhoAmI
from argus.authz import PERMISSIONS, Principal
from argus.errors import ArgusError
from argus.files import workspaces
from argus.services import identity
from argus.services.quota import quota_view

router = APIRouter(prefix="/v1", tags=["identity"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamIn(Body):
    name: str
    description: str = ""


class UserIn(Body):
    name: str
    team: str | None = None
    role: str = "user"


class GrantIn(Body):
    action: str = Field(description="The permission to give; grantable: task.logs (the team's logs).")


class TokenIn(Body):
    user: str
    name: str | None = None
    expires: str | None = Field(None, description="A duration: 30m, 12h, 90d, 2w; none: no expiry.")


def _made(key: str, ensure, ctx: AppContext, name: str) -> dict[str, Any]:  # noqa: ANN001
    """The new workspace's path; if the shared root refuses, why (it is made again on first use)."""
    try:
        return {key: str(ensure(ctx.settings, name))}
    except ArgusError as exc:
        return {key: None, f"{key}_error": exc.message}


@router.get("/whoami", summary="The caller: user, role, team, token, permissions", response_model=WhoAmI)
def whoami(who: Principal = Depends(acting("whoami"))) -> Any:
    perms = {action: scope.value for action, scope in PERMISSIONS.get(who.role, {}).items()}
    return {"user": who.name, "role": who.role, "team": who.team, "token": who.token_name,
            "permissions": perms}


@router.post("/teams", status_code=201, summary="Create a team", response_model=TeamOut)
def create_team(body: TeamIn, request: Request, ctx: Ctx, who: Principal = Depends(acting("team.create"))) -> Any:
    note(request, target=f"team/{body.name}", **body.model_dump())
    team = identity.create_team(ctx.db, who, body.name, body.description, audit=audit_of(request))
    return {**team, **_made("directory", workspaces.ensure_team, ctx, body.name)}


@router.get("/teams", summary="Teams the caller may see", response_model=TeamList)
def list_teams(ctx: Ctx, who: Principal = Depends(acting("team.read"))) -> Any:
    return {"items": identity.list_teams(ctx.db, who)}


@router.get("/teams/{name}", summary="A team: members, GPUs in use and its quota per flavor",
            response_model=TeamOut)
def get_team(name: str, ctx: Ctx, who: Principal = Depends(acting("team.read"))) -> Any:
    team = identity.get_team(ctx.db, who, name)
    return {**team, "quota": quota_view(ctx.db, ctx.preparer.policy.current(), name),
            "storage": ctx.storage.usage(name)}


@router.post("/users", status_code=201, summary="Create a user", response_model=UserOut)
def create_user(body: UserIn, request: Request, ctx: Ctx, who: Principal = Depends(acting("user.create"))) -> Any:
    note(request, target=f"user/{body.name}", **body.model_dump())
    user = identity.create_user(ctx.db, who, body.name, team=body.team, role=body.role,
                                audit=audit_of(request))
    return {**user, **_made("workspace", workspaces.ensure_user, ctx, body.name)}


@router.post("/users/{name}/grants", status_code=201, summary="Give a user an extra permission",
             response_model=UserOut)
def grant(name: str, body: GrantIn, request: Request, ctx: Ctx,
          who: Principal = Depends(acting("user.grant"))) -> Any:
    note(request, target=f"user/{name}", permission=body.action)
    return identity.grant(ctx.db, who, name, body.action, audit=audit_of(request))


@router.delete("/users/{name}/grants/{action}", summary="Take an extra permission back",
               response_model=UserOut)
def revoke_grant(name: str, action: str, request: Request, ctx: Ctx,
                 who: Principal = Depends(acting("user.grant"))) -> Any:
    note(request, target=f"user/{name}", permission=action)
    return identity.revoke_grant(ctx.db, who, name, action, audit=audit_of(request))


@router.get("/users", summary="Users the caller may see", response_model=UserList)
def list_users(ctx: Ctx, who: Principal = Depends(acting("user.read"))) -> Any:
    return {"items": identity.list_users(ctx.db, who)}


@router.post("/tokens", status_code=201, summary="Create an API token (the secret is shown once)",
             response_model=NewToken)
def create_token(body: TokenIn, request: Request, ctx: Ctx, who: Principal = Depends(acting("token.create"))) -> Any:
    note(request, target=f"user/{body.user}", **body.model_dump())
    expires = identity.parse_duration(body.expires) if body.expires else None
    return identity.create_token(ctx.db, who, body.user, name=body.name, expires_in_s=expires,
                                 audit=audit_of(request))


@router.get("/tokens", summary="API tokens the caller may see (never the secrets)",
            response_model=TokenList)
def list_tokens(ctx: Ctx, who: Principal = Depends(acting("token.read")), user: str | None = None) -> Any:
    return {"items": identity.list_tokens(ctx.db, who, user)}


@router.post("/tokens/{user}/{name}/revoke", summary="Revoke an API token", response_model=TokenOut)
def revoke_token(user: str, name: str, request: Request, ctx: Ctx, who: Principal = Depends(acting("token.revoke"))) -> Any:
    note(request, target=f"token/{user}/{name}")
    return identity.revoke_token(ctx.db, who, user, name, audit=audit_of(request))
