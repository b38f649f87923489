"""Task pages: the filterable list, one task (status, why, events, attempts, step, live log),
cancel and resubmit. The JSON under /ui/api/ feeds the pages' polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.context import AppContext, Ctx
from api.params import Attempt, Offset, TaskId
from api.ui.deps import Viewer, render, ui_acting
from argus.services import access
from argus.services import logs as log_service
from argus.services import tasks as task_service
from argus.states import TaskStatus

router = APIRouter(prefix="/ui", include_in_schema=False)
STATUSES = [s.value for s in TaskStatus]
LOG_POLL_S = 1.0
LOG_MAX_S = 6 * 3600.0
PAGE = 100


def _filters(status: str, priority: str, team: str, owner: str) -> dict[str, Any]:
    statuses = [s.strip().upper() for s in status.split(",") if s.strip()]
    return {"statuses": statuses, "priority": priority or None, "team": team or None, "owner": owner or None}


def _list(ctx: AppContext, who: Viewer, filters: dict[str, Any], offset: int) -> dict[str, Any]:
    listing = task_service.list_tasks(ctx.db, **filters, limit=PAGE, offset=offset,
                                      visible=access.visible_filter(who.principal))
    for item in listing["items"]:
        item["can_cancel"] = (not TaskStatus(item["status"]).is_terminal()
                              and who.can("task.cancel", item["owner"], item["team"]))
    return listing


Filter = Annotated[str, Query(max_length=200)]


@router.get("/tasks")
def tasks_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.list"))],
               status: Filter = "", priority: Filter = "", team: Filter = "", owner: Filter = "",
               offset: Offset = 0) -> Response:
    filters = _filters(status, priority, team, owner)
    listing = _list(ctx, who, filters, offset)
    return render(request, "tasks.html", listing=listing, statuses=STATUSES,
                  priorities=[c.name for c in ctx.preparer.policy.current().classes],
                  form={"status": status, "priority": priority, "team": team, "owner": owner})


@router.get("/api/tasks")
def tasks_json(ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.list"))],
               status: Filter = "", priority: Filter = "", team: Filter = "", owner: Filter = "",
               offset: Offset = 0) -> Any:
    return _list(ctx, who, _filters(status, priority, team, owner), offset)


def _detail(ctx: AppContext, who: Viewer, task_id: int) -> dict[str, Any]:
    access.authorize_task(ctx.db, who.principal, "task.read", task_id)
    task = task_service.get(ctx.db, task_id)
    task["events"] = task_service.events(ctx.db, task_id)
    ended = TaskStatus(task["status"]).is_terminal()
    task["terminal"] = ended
    task["can"] = {
        "cancel": not ended and who.can("task.cancel", task["owner"], task["team"]),
        "resubmit": ended and who.can("task.resubmit", task["owner"], task["team"]),
        "logs": who.can("task.logs", task["owner"], task["team"]),
    }
    return task


@router.get("/tasks/{task_id}")
def task_page(task_id: TaskId, request: Request, ctx: Ctx,
              who: Annotated[Viewer, Depends(ui_acting("task.read"))]) -> Response:
    return render(request, "task.html", task=_detail(ctx, who, task_id))


@router.get("/api/tasks/{task_id}")
def task_json(task_id: TaskId, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.read"))]) -> Any:
    return _detail(ctx, who, task_id)


async def _follow(ctx: AppContext, task_id: int, attempt: int | None) -> AsyncIterator[str]:
    """New log text as it appears; ends when the attempt ends, after LOG_MAX_S, or when the
    browser goes away (StreamingResponse listens for the disconnect and cancels this generator
    at its next await). The blocking reads run in the thread pool; the wait is an asyncio sleep."""
    shown, sent = 0, 0
    deadline = time.monotonic() + LOG_MAX_S
    while time.monotonic() < deadline:
        number, text, live = await run_in_threadpool(
            log_service.snapshot, ctx.db, ctx.settings, ctx.provider, task_id, attempt)
        if number != shown:
            shown, sent = number, 0
            yield f"--- attempt {number} ---\n"
        if len(text) > sent:
            yield text[sent:]
            sent = len(text)
        if not live:
            yield "--- end of log ---\n"
            return
        await asyncio.sleep(LOG_POLL_S)


@router.get("/tasks/{task_id}/log")
def task_log(task_id: TaskId, request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.logs"))],
             attempt: Attempt = None) -> Response:
    access.authorize_task(ctx.db, who.principal, "task.logs", task_id)  # 404/403 before streaming
    return StreamingResponse(_follow(ctx, task_id, attempt), media_type="text/plain; charset=utf-8",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/tasks/{task_id}/cancel")
def cancel(task_id: TaskId, request: Request, ctx: Ctx,
           who: Annotated[Viewer, Depends(ui_acting("task.cancel"))]) -> Response:
    access.authorize_task(ctx.db, who.principal, "task.cancel", task_id)
    task_service.cancel(ctx.db, task_id, actor=who.name, audit=request.state.audit)
    ctx.wake_scheduler()
    return RedirectResponse(f"/ui/tasks/{task_id}", status_code=303)


@router.post("/tasks/{task_id}/resubmit")
def resubmit(task_id: TaskId, request: Request, ctx: Ctx,
             who: Annotated[Viewer, Depends(ui_acting("task.resubmit"))]) -> Response:
    access.authorize_task(ctx.db, who.principal, "task.resubmit", task_id)
    request.state.audit.params["resubmit_of"] = task_id
    new = task_service.resubmit(ctx.db, ctx.settings, task_id, actor=who.name, audit=request.state.audit,
                                 paths=ctx.preparer.path_issues)
    ctx.wake_scheduler()
    return RedirectResponse(f"/ui/tasks/{new['id']}", status_code=303)
