"""/v1/queue and /v1/nodes: the planner's order with why-pending and quota use; the head, Ray's
nodes and the worker agents. Thin: the views are in services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import acting
from api.context import AppContext, get_ctx
from argus.authz import Principal, require_action
from argus.services import queue
from argus.services.nodes import nodes_view

router = APIRouter(prefix="/v1", tags=["cluster"])
Ctx = Annotated[AppContext, Depends(get_ctx)]


@router.get("/queue", summary="Pending tasks in the planner's order with why each waits; quota use per team")
def get_queue(ctx: Ctx, who: Annotated[Principal, Depends(acting("task.list"))]) -> Any:
    return {**queue.pending(ctx.db, ctx.settings, who), "teams": queue.quotas(ctx.db, ctx.settings, who)}


@router.get("/nodes", summary="The head record, Ray's nodes with GPUs in use, the worker agents")
def get_nodes(ctx: Ctx, who: Annotated[Principal, Depends(acting("cluster.read"))]) -> Any:
    require_action(who, "cluster.read")
    return nodes_view(ctx.db, ctx.settings, ctx.provider)
