"""Queue (the planner's order, why-pending, quota bars) and Nodes (head, Ray nodes, agents)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from api.context import Ctx
from api.routers.nodes import ray_nodes
from api.ui.deps import Viewer, render, ui_acting
from argus.authz import require_action
from argus.services import queue
from argus.services import nodes
from argus.services.headview import head_view

router = APIRouter(prefix="/ui", include_in_schema=False)


def bar(row: dict[str, Any]) -> dict[str, Any]:
    """Widths (percent of the bar) for a flavor's quota: in use, nominal and effective marks."""
    nominal = row["nominal"] or 0.0
    effective = row["effective"] if row["effective"] is not None else nominal
    top = max(nominal, effective, row["in_use"], (effective or 0.0) + (row["borrowing_limit"] or 0.0), 1.0)
    pct = lambda v: round(100.0 * (v or 0.0) / top, 1)  # noqa: E731
    return {**row, "used_pct": pct(row["in_use"]), "nominal_pct": pct(nominal),
            "effective_pct": pct(effective), "over": row["nominal"] is not None and row["in_use"] > nominal}


@router.get("/queue")
def queue_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.list"))]) -> Response:
    pending = queue.pending(ctx.db, ctx.settings, ctx.preparer.policy.current(), who.principal)
    teams = [{**t, "flavors": [bar(f) for f in t["flavors"]]}
             for t in queue.quotas(ctx.db, ctx.preparer.policy.current(), who.principal)]
    return render(request, "queue.html", pending=pending, teams=teams)


@router.get("/nodes")
def nodes_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("node.read"))]) -> Response:
    require_action(who.principal, "node.read")
    found = ray_nodes(ctx)
    ref = ctx.provider.current()
    return render(request, "nodes.html", head=head_view(ctx.settings.shared_root, time.time()),
                  rows=nodes.node_rows(ctx.db, ctx.settings, found), ray_reachable=found is not None,
                  ray_why=ref.why_not, epoch=ref.epoch)


@router.post("/nodes/{name}/release")
def release(name: str, request: Request, ctx: Ctx,
            who: Annotated[Viewer, Depends(ui_acting("node.release"))]) -> Response:
    request.state.audit.target = f"node/{name}"
    nodes.release(ctx.settings, who.principal, name, db=ctx.db, audit=request.state.audit)
    return RedirectResponse("/ui/nodes", status_code=303)
