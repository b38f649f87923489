"""verl trees this server knows: their interpreters, layouts and whether they pass the checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import acting
from api.context import get_ctx
from argus.authz import Principal

router = APIRouter(tags=["verl"])


@router.get("/v1/verl/trees", summary="verl trees with their interpreter, layout and status")
def verl_trees(request: Request, _who: Annotated[Principal, Depends(acting("schema.read"))]) -> dict[str, Any]:
    """Sync (a thread): the first look at a tree composes its config and runs its interpreter."""
    return get_ctx(request).preparer.describe_trees()
