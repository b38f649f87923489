"""/v1/nodes: every worker node (state, GPUs, quarantine, heartbeat, zombie) and releasing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import acting, audit_of, note
from api.context import AppContext, Ctx
from api.schemas import NodeList, NodeRelease
from argus.authz import Principal, require_action
from argus.errors import RayError
from argus.ray_adapter import NodeInfo
from argus.services import nodes

router = APIRouter(prefix="/v1/nodes", tags=["nodes"])


def ray_nodes(ctx: AppContext) -> list[NodeInfo] | None:
    ref = ctx.provider.current()
    if ref.cluster is None:
        return None
    try:
        return ref.cluster.nodes()
    except RayError:
        return None


@router.get("", summary="Worker nodes: address, GPUs, in use, state, quarantine reason, heartbeat, zombie",
            response_model=NodeList)
def list_nodes(ctx: Ctx, who: Annotated[Principal, Depends(acting("node.read"))]) -> Any:
    require_action(who, "node.read")
    found = ray_nodes(ctx)
    return {"items": nodes.node_rows(ctx.db, ctx.settings, found), "ray_reachable": found is not None}


@router.post("/{name}/release", summary="Lift a node's quarantine (its agent acts within seconds)",
             response_model=NodeRelease)
def release(name: str, request: Request, ctx: Ctx,
            who: Annotated[Principal, Depends(acting("node.release"))]) -> Any:
    note(request, target=f"node/{name}")
    return nodes.release(ctx.settings, who, name, db=ctx.db, audit=audit_of(request))
