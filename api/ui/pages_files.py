"""Files: browse your workspace (/) and your team's directory (/team), download, upload, mkdir,
delete — the same services, confinement, quota and audit as /v1/fs (docs/data.md).

An upload here is one form post per batch, bounded by ARGUS_UPLOAD_CHUNK_MAX_BYTES (checked on
Content-Length before the form is parsed); larger files go with ``argus cp`` (resumable) or SFTP.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.context import Ctx
from api.ui.deps import Viewer, render, ui_acting
from argus.errors import BadRequest, TooLarge
from argus.files.sizes import fmt_bytes
from argus.services import files

router = APIRouter(prefix="/ui", include_in_schema=False)
PathQ = Annotated[str, Query(max_length=4096)]
FORM_SLACK = 64 * 1024  # multipart boundaries and the small fields


def crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [("/", "/")] + [(p, "/" + "/".join(parts[:i + 1])) for i, p in enumerate(parts)]


def _back(directory: str, **note: str) -> RedirectResponse:
    extra = "".join(f"&{k}={quote(v)}" for k, v in note.items())
    return RedirectResponse(f"/ui/files?path={quote(directory)}{extra}", status_code=303)


@router.get("/files")
def files_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("file.read"))],
               path: PathQ = "/", done: str = "") -> Response:
    listing = files.listing(ctx.storage, who.principal, path)
    usage = ctx.storage.usage(who.team) if who.team else None
    items: list[dict[str, Any]] = listing["items"]  # a file or link: its own row
    return render(request, "files.html", listing=listing, items=items, crumbs=crumbs(listing["path"]),
                  usage=usage, fmt_bytes=fmt_bytes, done=done,
                  limit=fmt_bytes(ctx.settings.upload_chunk_max_bytes),
                  writable=who.can("file.write", owner=who.name))


@router.get("/files/download")
def download(ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("file.read"))], path: PathQ) -> Response:
    fd, size, view_path = files.open_download(ctx.storage, who.principal, path)
    name = quote(posixpath.basename(view_path))
    return StreamingResponse(files.stream(fd), media_type="application/octet-stream",
                             headers={"Content-Length": str(size),
                                      "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


async def bounded_form(request: Request, ctx: Ctx) -> None:
    """Refuse an upload form larger than one chunk before anything parses it."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise BadRequest("an upload needs a Content-Length; use argus cp for streamed uploads")
    limit = ctx.settings.upload_chunk_max_bytes
    if int(declared) > limit + FORM_SLACK:
        raise TooLarge(f"an upload here may carry {fmt_bytes(limit)} at most; copy larger files "
                       "with argus cp (resumable) or sftp")


@router.post("/files/upload")
async def upload(request: Request, ctx: Ctx, _bounded: Annotated[None, Depends(bounded_form)],
                 who: Annotated[Viewer, Depends(ui_acting("file.write"))]) -> Response:
    form = await request.form()
    directory = str(form.get("dir") or "/")
    sent = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    if not sent:
        raise BadRequest("choose one or more files to upload")
    names = []
    for item in sent:
        name = posixpath.basename(item.filename.replace("\\", "/"))
        target = posixpath.join(directory, name)
        data = await item.read()
        request.state.audit.params.setdefault("paths", []).append(target)
        await run_in_threadpool(files.discard_upload, ctx.storage, who.principal, target)
        result = await run_in_threadpool(files.write_chunk, ctx.storage, who.principal, target, 0,
                                         data, final=True)
        names.append(f"{name} ({fmt_bytes(result['size'])}, sha256 {result['sha256'][:12]}…)")
    return _back(directory, done="uploaded " + ", ".join(names))


@router.post("/files/mkdir")
async def mkdir(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("file.write"))]) -> Response:
    form = await request.form()
    directory, name = str(form.get("dir") or "/"), str(form.get("name") or "").strip()
    if not name or "/" in name:
        raise BadRequest("name the new directory (one name, no '/')")
    target = posixpath.join(directory, name)
    request.state.audit.params["path"] = target
    await run_in_threadpool(files.mkdir, ctx.storage, who.principal, target)
    return _back(directory, done=f"created {name}/")


@router.post("/files/delete")
async def delete(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("file.write"))]) -> Response:
    form = await request.form()
    target = str(form.get("path") or "")
    request.state.audit.params["path"] = target
    result = await run_in_threadpool(files.delete, ctx.storage, who.principal, target,
                                     recursive=form.get("recursive") == "yes")
    return _back(posixpath.dirname(result["path"].rstrip("/")) or "/",
                 done=f"deleted {result['path']} ({fmt_bytes(result['bytes'])})")
