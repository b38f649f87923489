"""Operator routes: ``POST /v1/gc`` (dry run unless apply=true) and pinning a task's files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import acting, audit_of, note
from api.context import Ctx
from api.params import TaskId
from argus.authz import Principal
from argus.authz import require_action
from argus.services import access, doctor, gc

router = APIRouter(tags=["operations"])


@router.post("/v1/gc", summary="What the retention policy lets go (apply=true removes it)")
def run_gc(request: Request, ctx: Ctx, who: Annotated[Principal, Depends(acting("gc.run"))],
           apply: bool = False) -> Any:
    note(request, target="gc", apply=apply)
    return gc.run(ctx.db, ctx.settings, who, apply=apply, audit=audit_of(request) if apply else None)


@router.post("/v1/tasks/{task_id}/pin", summary="Keep a task's checkpoints and logs from gc")
def pin(task_id: TaskId, request: Request, ctx: Ctx, who: Annotated[Principal, Depends(acting("task.pin"))]) -> Any:
    note(request, target=f"task/{task_id}")
    return gc.pin(ctx.db, who, task_id, pinned=True, audit=audit_of(request))


@router.delete("/v1/tasks/{task_id}/pin", summary="Let gc remove a task's files again after retention")
def unpin(task_id: TaskId, request: Request, ctx: Ctx, who: Annotated[Principal, Depends(acting("task.pin"))]) -> Any:
    note(request, target=f"task/{task_id}")
    return gc.pin(ctx.db, who, task_id, pinned=False, audit=audit_of(request))


@router.get("/v1/tasks/{task_id}/doctor", summary="Why a task failed: known causes, what to do, a model's view")
def doctor_task(task_id: TaskId, ctx: Ctx, who: Annotated[Principal, Depends(acting("task.logs"))]) -> Any:
    access.authorize_task(ctx.db, who, "task.logs", task_id)
    return doctor.explain(ctx.db, ctx.settings, ctx.provider, task_id)


@router.get("/v1/doctor", summary="Zombie nodes, RUNNING tasks without a Ray job, quarantined nodes")
def doctor_cluster(ctx: Ctx, who: Annotated[Principal, Depends(acting("node.read"))]) -> Any:
    require_action(who, "node.read")
    return doctor.cluster(ctx.db, ctx.settings, ctx.provider)
