"""/v1/secrets: a user's secrets (names only ever come back). Thin: logic is in services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import acting, audit_of, note
from api.context import Ctx
from argus.authz import Principal
from argus.services import secrets

router = APIRouter(prefix="/v1/secrets", tags=["secrets"])
Name = Annotated[str, Path(max_length=64, description="An environment variable name, e.g. WANDB_API_KEY.")]
ForUser = Annotated[str | None, Query(max_length=64, description="Another user's (admins only).")]


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(max_length=secrets.MAX_VALUE_BYTES, repr=False,
                       description="The secret; stored encrypted, never shown back.")


class SecretOut(BaseModel):
    user: str
    name: str
    created: bool
    updated_at: float


class SecretItem(BaseModel):
    user: str
    name: str
    created_at: float
    updated_at: float


class SecretList(BaseModel):
    items: list[SecretItem]


class SecretDeleted(BaseModel):
    user: str
    name: str
    deleted: bool


@router.put("/{name}", response_model=SecretOut, summary="Store or replace a secret")
def put_secret(name: Name, body: SecretIn, request: Request, ctx: Ctx, user: ForUser = None,
               who: Principal = Depends(acting("secret.write"))) -> Any:
    note(request, target=f"secret/{user or who.name}/{name}")
    return secrets.set_secret(ctx.db, ctx.settings, who, name, body.value, user=user,
                              audit=audit_of(request))


@router.get("", response_model=SecretList, summary="Secret names and dates (never the values)")
def list_secrets(ctx: Ctx, user: ForUser = None, who: Principal = Depends(acting("secret.read"))) -> Any:
    return {"items": secrets.list_secrets(ctx.db, who, user)}


@router.delete("/{name}", response_model=SecretDeleted, summary="Remove a secret")
def delete_secret(name: Name, request: Request, ctx: Ctx, user: ForUser = None,
                  who: Principal = Depends(acting("secret.write"))) -> Any:
    note(request, target=f"secret/{user or who.name}/{name}")
    return secrets.delete_secret(ctx.db, who, name, user=user, audit=audit_of(request))
