"""/v1/tasks: submit, list, get, events, logs, cancel, resubmit. Thin: logic is in services."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from api.context import AppContext, get_ctx
from argus.errors import BadRequest
from argus.scheduler.admit import preview_decision
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
    dry_run: bool = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    source: Annotated[str, Header(alias="X-Argus-Source")] = "task.yaml",
) -> Any:
    spec, text = await _read_spec(request, source)
    preview = ctx.preparer.check(spec, source=source)
    if dry_run:
        return {
            "dry_run": True,
            "spec": spec.model_dump(mode="json"),
            "entrypoint": preview.entrypoint,
            "argv": preview.argv,
            "runtime_env": preview.runtime_env,
            "entrypoint_num_cpus": preview.entrypoint_num_cpus,
            "entrypoint_num_gpus": preview.entrypoint_num_gpus,
            "entrypoint_resources": preview.entrypoint_resources,
            "decision": preview_decision(ctx.db, ctx.settings, ctx.provider, spec),
        }
    return task_service.create_task(ctx.db, ctx.settings, spec, text, idempotency_key=idempotency_key)


@router.get("", summary="List tasks")
def list_tasks(
    ctx: Ctx,
    status: Annotated[list[str] | None, Query()] = None,
    priority: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    statuses = [s.upper() for item in status or [] for s in item.split(",") if s]
    return task_service.list_tasks(ctx.db, statuses=statuses, priority=priority, team=team,
                                   limit=limit, offset=offset)


@router.get("/{task_id}", summary="One task with its attempts")
def get_task(task_id: int, ctx: Ctx) -> Any:
    return task_service.get(ctx.db, task_id)


@router.get("/{task_id}/events", summary="The task's status changes")
def get_events(task_id: int, ctx: Ctx) -> Any:
    return {"items": task_service.events(ctx.db, task_id)}


@router.get("/{task_id}/logs", summary="Driver logs; follow=true streams until the attempt ends")
def get_logs(task_id: int, ctx: Ctx, attempt: int | None = None, follow: bool = False) -> Any:
    if follow:
        task_service.get(ctx.db, task_id)  # 404 before the stream starts
        stream = log_service.follow(ctx.db, ctx.settings, ctx.provider, task_id, attempt)
        return StreamingResponse(stream, media_type="text/plain")
    return PlainTextResponse(log_service.read(ctx.db, ctx.settings, ctx.provider, task_id, attempt))


@router.post("/{task_id}/cancel", status_code=202, summary="Record the intent to cancel")
def cancel(task_id: int, ctx: Ctx) -> Any:
    return task_service.cancel(ctx.db, task_id)


@router.post("/{task_id}/resubmit", status_code=201, summary="Queue an ended task again")
def resubmit(task_id: int, ctx: Ctx, fresh: bool = False) -> Any:
    return task_service.resubmit(ctx.db, ctx.settings, task_id, fresh=fresh)
