"""/v1/queue: pending tasks in the planner's order with why each waits, and the teams' quota
use per GPU flavor. Thin: the views are in services (argus/services/queue.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import acting
from api.context import Ctx
from argus.authz import Principal
from argus.services import queue

router = APIRouter(prefix="/v1", tags=["cluster"])


@router.get("/queue", summary="Pending tasks in the planner's order with why each waits; quota use per team")
def get_queue(ctx: Ctx, who: Annotated[Principal, Depends(acting("task.list"))]) -> Any:
    policy = ctx.preparer.policy.current()
    return {**queue.pending(ctx.db, ctx.settings, policy, who), "teams": queue.quotas(ctx.db, policy, who)}
