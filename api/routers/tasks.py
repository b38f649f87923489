"""/v1/tasks: submit, list, get, events, logs, cancel, resubmit. Thin: logic is in services."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from api.auth import acting, audit_of, note
from api.context import AppContext, get_ctx
from argus.authz import Principal, require_action
from argus.errors import BadRequest
from argus.services import access
from argus.services.dryrun import dry_run_view
from argus.services import logs as log_service
from argus.services import tasks as task_service
from taskspec import load_spec, load_spec_data

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
Ctx = Annotated[AppContext, Depends(get_ctx)]


YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


async def _read_spec(request: Request, source: str):  # noqa: ANN202
    body = (await request.body()).decode("utf-8", errors="replace")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in YAML_TYPES:
        return load_spec(body, source=source), body
    if ctype in ("", "application/json"):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{source}: body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadRequest(f"{source}: the body must be a JSON object (the task spec)")
        spec = load_spec_data(data, source=source)
        return spec, yaml.safe_dump(data, sort_keys=False)
    raise BadRequest(f"unsupported Content-Type '{ctype}'; send application/json or application/yaml")


@router.post("", status_code=201, summary="Submit a task (YAML or JSON spec)")
async def submit(
    request: Request,
    ctx: Ctx,
    who: Principal = Depends(acting("task.submit")),
    dry_run: bool = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    source: Annotated[str, Header(alias="X-Argus-Source")] = "task.yaml",
) -> Any:
    require_action(who, "task.submit")  # before reading the body
    spec, text = await _read_spec(request, source)
    note(request, name=spec.name, kind=spec.kind, priority=spec.priority, source=source)
    owner, team = access.submit_identity(who, spec)
    preview = ctx.preparer.check(spec, source=source, owner=owner, team=team)
    if dry_run:
        return dry_run_view(ctx.db, ctx.settings, ctx.provider, spec, preview, owner,
                            ctx.preparer.policy.current())
    created = task_service.create_task(ctx.db, ctx.settings, spec, text, owner=owner, team=team,
                                       idempotency_key=idempotency_key, audit=audit_of(request))
    ctx.wake_scheduler()
    return created


@router.get("", summary="List tasks")
def list_tasks(
    ctx: Ctx,
    who: Principal = Depends(acting("task.list")),
    status: Annotated[list[str] | None, Query()] = None,
    priority: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    statuses = [s.upper() for item in status or [] for s in item.split(",") if s]
    return task_service.list_tasks(ctx.db, statuses=statuses, priority=priority, team=team,
                                   limit=limit, offset=offset, visible=access.visible_filter(who))


@router.get("/{task_id}", summary="One task with its attempts")
def get_task(task_id: int, ctx: Ctx, who: Principal = Depends(acting("task.read"))) -> Any:
    access.authorize_task(ctx.db, who, "task.read", task_id)
    return task_service.get(ctx.db, task_id)


@router.get("/{task_id}/events", summary="The task's status changes")
def get_events(task_id: int, ctx: Ctx, who: Principal = Depends(acting("task.read"))) -> Any:
    access.authorize_task(ctx.db, who, "task.read", task_id)
    return {"items": task_service.events(ctx.db, task_id)}


@router.get("/{task_id}/logs", summary="Driver logs; follow=true streams until the attempt ends")
def get_logs(task_id: int, ctx: Ctx, who: Principal = Depends(acting("task.logs")), attempt: int | None = None,
             follow: bool = False) -> Any:
    access.authorize_task(ctx.db, who, "task.logs", task_id)  # 404/403 before the stream starts
    if follow:
        stream = log_service.follow(ctx.db, ctx.settings, ctx.provider, task_id, attempt)
        return StreamingResponse(stream, media_type="text/plain")
    return PlainTextResponse(log_service.read(ctx.db, ctx.settings, ctx.provider, task_id, attempt))


@router.post("/{task_id}/cancel", status_code=202, summary="Record the intent to cancel")
def cancel(task_id: int, request: Request, ctx: Ctx, who: Principal = Depends(acting("task.cancel"))) -> Any:
    access.authorize_task(ctx.db, who, "task.cancel", task_id)
    result = task_service.cancel(ctx.db, task_id, actor=who.name, audit=audit_of(request))
    ctx.wake_scheduler()
    return result


@router.post("/{task_id}/resubmit", status_code=201, summary="Queue an ended task again")
def resubmit(task_id: int, request: Request, ctx: Ctx, who: Principal = Depends(acting("task.resubmit")),
             fresh: bool = False) -> Any:
    access.authorize_task(ctx.db, who, "task.resubmit", task_id)
    note(request, resubmit_of=task_id)
    result = task_service.resubmit(ctx.db, ctx.settings, task_id, actor=who.name, fresh=fresh,
                                   audit=audit_of(request))
    ctx.wake_scheduler()
    return result
