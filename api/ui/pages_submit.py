"""Submit: a YAML editor validated on the server as you type, the dry run, and submit."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.context import AppContext, Ctx
from api.ui.deps import Viewer, render, ui_acting
from argus.authz import require_action
from argus.errors import ArgusError, InvalidSpec
from argus.services import access
from argus.services import tasks as task_service
from argus.services.dryrun import dry_run_view
from taskspec import SpecError, load_spec

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_YAML = 256 * 1024
SOURCE = "task.yaml"


class YamlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(max_length=MAX_YAML)


def starter(ctx: AppContext, who: Viewer) -> str:
    """A small custom task pointing at the viewer's own workspace, to edit."""
    workspace = ctx.preparer.shared_root / "users" / who.name / "code"
    return (f"kind: custom\nname: my-first-task\npriority: {ctx.preparer.policy.current().classes[-1].name}\n"
            f"code: {workspace}\ncommand: [python, train.py, --steps, \"100\"]\n"
            "resources: {nodes: 1, cpus: 1, gpus_per_node: 0}\ncheckpoint: {save_freq: 20}\n"
            "retry: {max_attempts: 3}\n")


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of a field path (``resources.gpus_per_node``, ``verl.overrides.1``)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in [p for p in path.split(".") if p]:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _issues(text: str, exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, SpecError):
        raw = [{"path": i.path, "message": i.message} for i in exc.issues]
    elif isinstance(exc, InvalidSpec) and exc.details:
        raw = [dict(d) for d in exc.details]
    elif isinstance(exc, ArgusError):
        raw = [{"path": "team" if "team" in exc.message.split(":", 1)[0] else "", "message": exc.message}]
    else:
        raw = [{"path": "", "message": str(exc)}]
    for issue in raw:
        issue["line"] = line_of(text, issue["path"]) if issue["path"] else None
    return raw


def check(ctx: AppContext, who: Viewer, text: str):  # noqa: ANN201
    """(spec, job preview, owner, team); raises SpecError / ArgusError with every problem."""
    spec = load_spec(text, source=SOURCE)
    owner, team = access.submit_identity(who.principal, spec)
    preview = ctx.preparer.check(spec, source=SOURCE, owner=owner, team=team)
    return spec, preview, owner, team


@router.get("/submit")
def submit_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.submit"))]) -> Response:
    require_action(who.principal, "task.submit")
    return render(request, "submit.html", text=starter(ctx, who), issues=[], max_yaml=MAX_YAML)


@router.post("/api/validate")
def validate(body: YamlIn, request: Request, ctx: Ctx,
             who: Annotated[Viewer, Depends(ui_acting("task.submit"))]) -> Any:
    """The server's checks and the dry run; changes nothing, so not an audited action."""
    require_action(who.principal, "task.submit")
    request.state.audit.recorded = True  # a keystroke's check is not an action on record
    try:
        spec, preview, owner, _team = check(ctx, who, body.yaml)
    except (SpecError, ArgusError) as exc:
        return {"ok": False, "issues": _issues(body.yaml, exc)}
    return {"ok": True, "issues": [], "dry_run": dry_run_view(ctx.db, ctx.settings, ctx.provider,
                                                              spec, preview, owner,
                                                              ctx.preparer.policy.current())}


@router.post("/submit")
def submit(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("task.submit"))],
           text: Annotated[str, Form(alias="yaml", max_length=MAX_YAML)]) -> Response:
    require_action(who.principal, "task.submit")
    try:
        spec, _preview, owner, team = check(ctx, who, text)
    except (SpecError, ArgusError) as exc:
        if isinstance(exc, ArgusError) and exc.http_status >= 500:
            raise
        return render(request, "submit.html", 422, text=text, issues=_issues(text, exc), max_yaml=MAX_YAML)
    request.state.audit.params.update(name=spec.name, kind=spec.kind, priority=spec.priority, source="ui")
    task = task_service.create_task(ctx.db, ctx.settings, spec, text, owner=owner, team=team,
                                    audit=request.state.audit, preparer=ctx.preparer)
    ctx.wake_scheduler()
    return RedirectResponse(f"/ui/tasks/{task['id']}", status_code=303)
