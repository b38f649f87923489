"""/v1/tasks: submit, list, get, events, logs, cancel, resubmit. Thin: logic is in services."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.auth import acting, audit_of, note
from api.context import AppContext, Ctx, get_ctx
from api.params import After, Attempt, Offset, TaskId
from api.schemas import TEXT, DryRun, EventList, TaskDetail, TaskList, TaskOut
from argus.authz import Principal, require_action
from argus.errors import BadRequest
from argus.services import access
from argus.services.dryrun import dry_run_view
from argus.services import logs as log_service
from argus.services import tasks as task_service
from taskspec import CustomTask, VerlTask, load_spec, load_spec_data, read_json

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _parse_spec(body: bytes, ctype: str, source: str) -> tuple[CustomTask | VerlTask, str]:
    """The spec and the text to keep: the body as sent, YAML or JSON (JSON is YAML too)."""
    text = body.decode("utf-8", errors="replace")
    if ctype in YAML_TYPES:
        return load_spec(text, source=source), text
    if ctype in ("", "application/json"):
        try:
            data = read_json(text, source=source)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return load_spec_data(data, source=source), text
    raise BadRequest(f"unsupported Content-Type '{ctype}'; send application/json or application/yaml")


def _submit(request: Request, ctx: AppContext, who: Principal, body: bytes, *, dry_run: bool,
            idempotency_key: str | None, source: str) -> dict[str, Any]:
    """Everything after reading the body: parsing, path checks, compiling, the write. Runs in
    the thread pool (YAML, the shared filesystem, hydra and SQLite all block)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    spec, text = _parse_spec(body, ctype, source)
    note(request, name=spec.name, kind=spec.kind, priority=spec.priority, source=source)
    owner, team = access.submit_identity(who, spec)
    preview = ctx.preparer.check(spec, source=source, owner=owner, team=team)
    if dry_run:
        return dry_run_view(ctx.db, ctx.settings, ctx.provider, spec, preview, owner,
                            ctx.preparer.policy.current())
    created = task_service.create_task(ctx.db, ctx.settings, spec, text, owner=owner, team=team,
                                       idempotency_key=idempotency_key, audit=audit_of(request),
                                       preparer=ctx.preparer)
    ctx.wake_scheduler()
    return created


SPEC_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "A task spec (argus schema)"}},
    "application/yaml": {"schema": {"type": "string", "description": "A task file"}}}}


SUBMITTER = acting("task.submit")  # one dependency: the plain path below calls it too
KEY_MAX = SOURCE_MAX = 200
DEFAULT_SOURCE = "task.yaml"


async def submit(
    request: Request,
    ctx: Ctx,
    who: Principal = Depends(SUBMITTER),
    dry_run: bool = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                  max_length=KEY_MAX)] = None,
    source: Annotated[str, Header(alias="X-Argus-Source", max_length=SOURCE_MAX)] = DEFAULT_SOURCE,
) -> Any:
    require_action(who, "task.submit")  # before reading the body
    body = await request.body()  # bounded by the BodyLimit middleware
    result = await run_in_threadpool(_submit, request, ctx, who, body, dry_run=dry_run,
                                     idempotency_key=idempotency_key, source=source)
    # The task view is TaskOut already (tests/api check the schema): answered as is, without
    # validating it again through the response model (a tenth of a submit's CPU).
    return result if dry_run else JSONResponse(result, status_code=201)


def _plain_headers(request: Request) -> tuple[str | None, str] | None:
    """(Idempotency-Key, X-Argus-Source) when both are absent or within their bounds, as
    FastAPI would read them (the first of a repeated header); None for anything else."""
    headers = request.headers
    key, source = headers.get("idempotency-key"), headers.get("x-argus-source")
    if key is not None and not 1 <= len(key) <= KEY_MAX:
        return None
    if source is not None and len(source) > SOURCE_MAX:
        return None
    return key, DEFAULT_SOURCE if source is None else source


class SubmitRoute(APIRoute):
    """The submit route, with a shortcut past FastAPI's parameter solving for the plain request
    (about a tenth of a submit's CPU): no query string, its two headers absent or within bounds, no
    dependency overrides. The route is declared as usual, so the OpenAPI document is FastAPI's
    own; every other request (``dry_run``, an empty or too-long header) takes FastAPI's path
    and gets its answers, 422s included. tests/api/test_submit_route.py holds the two alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        solved = super().get_route_handler()

        async def handler(request: Request) -> Response:
            headers = None if request.scope["query_string"] else _plain_headers(request)
            if headers is None or request.app.dependency_overrides:
                return await solved(request)
            key, source = headers
            return await submit(request, get_ctx(request), await SUBMITTER(request),
                                idempotency_key=key, source=source)

        return handler


router.add_api_route("", submit, methods=["POST"], status_code=201,
                     summary="Submit a task (YAML or JSON spec)", response_model=TaskOut | DryRun,
                     openapi_extra={"requestBody": SPEC_BODY}, route_class_override=SubmitRoute)


@router.get("", summary="List tasks", response_model=TaskList)
def list_tasks(
    ctx: Ctx,
    who: Principal = Depends(acting("task.list")),
    status: Annotated[list[str] | None, Query()] = None,
    priority: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    after: After = None,
) -> Any:
    """Newest first. Page with ``next_after`` (keyset: as fast at any depth) or ``offset``."""
    statuses = [s.upper() for item in status or [] for s in item.split(",") if s]
    return task_service.list_tasks(ctx.db, statuses=statuses, priority=priority, team=team,
                                   limit=limit, offset=offset, after=after,
                                   visible=access.visible_filter(who))


@router.get("/{task_id}", summary="One task with its attempts", response_model=TaskDetail)
def get_task(task_id: TaskId, ctx: Ctx, who: Principal = Depends(acting("task.read"))) -> Any:
    access.authorize_task(ctx.db, who, "task.read", task_id)
    return task_service.get(ctx.db, task_id)


@router.get("/{task_id}/events", summary="The task's status changes", response_model=EventList)
def get_events(task_id: TaskId, ctx: Ctx, who: Principal = Depends(acting("task.read"))) -> Any:
    access.authorize_task(ctx.db, who, "task.read", task_id)
    return {"items": task_service.events(ctx.db, task_id)}


@router.get("/{task_id}/logs", summary="Driver logs; follow=true streams until the attempt ends",
            response_class=PlainTextResponse, responses={200: TEXT})
async def get_logs(task_id: TaskId, request: Request, ctx: Ctx,
                   who: Principal = Depends(acting("task.logs")), attempt: Attempt = None,
                   follow: bool = False) -> Any:
    """Async, so that a follow is a coroutine waiting on a timer (not a thread): it ends when
    the attempt ends or the client goes; the blocking reads run in the thread pool."""
    await run_in_threadpool(access.authorize_task, ctx.db, who, "task.logs", task_id)
    if follow:
        stream = log_service.follow(ctx.db, ctx.settings, ctx.provider, task_id, attempt,
                                    gone=request.is_disconnected)
        return StreamingResponse(stream, media_type="text/plain")
    text = await run_in_threadpool(log_service.read, ctx.db, ctx.settings, ctx.provider,
                                   task_id, attempt)
    return PlainTextResponse(text)


@router.post("/{task_id}/cancel", status_code=202, summary="Record the intent to cancel",
             response_model=TaskOut)
def cancel(task_id: TaskId, request: Request, ctx: Ctx, who: Principal = Depends(acting("task.cancel"))) -> Any:
    access.authorize_task(ctx.db, who, "task.cancel", task_id)
    result = task_service.cancel(ctx.db, task_id, actor=who.name, audit=audit_of(request))
    ctx.wake_scheduler()
    return result


@router.post("/{task_id}/resubmit", status_code=201, summary="Queue an ended task again",
             response_model=TaskOut)
def resubmit(task_id: TaskId, request: Request, ctx: Ctx, who: Principal = Depends(acting("task.resubmit")),
             fresh: bool = False) -> Any:
    access.authorize_task(ctx.db, who, "task.resubmit", task_id)
    note(request, resubmit_of=task_id)
    result = task_service.resubmit(ctx.db, ctx.settings, task_id, actor=who.name, fresh=fresh,
                                   audit=audit_of(request), paths=ctx.preparer.path_issues)
    ctx.wake_scheduler()
    return result
