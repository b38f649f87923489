"""/v1/fs (files in the caller's view), /v1/keys (SSH keys), /v1/teams/{team}/storage.

Thin: paths, permissions and quotas are in services. Every route that touches the disk is a
``def`` (FastAPI's thread pool) except the upload ones, which read the body on the event loop
(bounded) and hand the disk work to the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import acting, audit_of, note
from api.context import Ctx
from argus.authz import Principal, require_action
from argus.errors import TooLarge
from argus.files.sizes import fmt_bytes
from argus.services import files, identity, keys

router = APIRouter(prefix="/v1", tags=["files"])
PathQ = Annotated[str, Query(max_length=4096, description="A path in your view: / is your "
                             "workspace, /team your team's directory.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyIn(Body):
    public_key: str = Field(max_length=16_384, description="One OpenSSH public key line (.pub).")
    name: str | None = Field(None, max_length=64)


class StorageIn(Body):
    quota_bytes: int | None = Field(description="Bytes the team may hold; null: not limited.")


@router.get("/fs/workspace", summary="Your workspace: where it is, your team's, limits, usage")
def workspace(ctx: Ctx, who: Principal = Depends(acting("file.read"))) -> Any:
    require_action(who, "file.read")
    view = ctx.storage.view(who)
    areas = {name or "/": str(area.root) for name, area in view.areas.items()}
    return {"user": who.name, "team": who.team, "workspace": areas["/"],
            "team_dir": areas.get("team"),
            "roots": [str(r) for r in ctx.preparer.roots_for(who.name, who.team)],
            "snapshot_max_bytes": ctx.settings.snapshot_max_bytes,
            "upload_chunk_max_bytes": ctx.settings.upload_chunk_max_bytes,
            "storage": ctx.storage.usage(who.team) if who.team else None}


@router.get("/fs/list", summary="List a directory")
def list_dir(ctx: Ctx, path: PathQ = "/", who: Principal = Depends(acting("file.read"))) -> Any:
    return files.listing(ctx.storage, who, path)


@router.get("/fs/stat", summary="One entry; sha256=true adds the file's checksum")
def stat(ctx: Ctx, path: PathQ, sha256: bool = False,
         who: Principal = Depends(acting("file.read"))) -> Any:
    return files.stat(ctx.storage, who, path, sha256=sha256)


@router.get("/fs/content", summary="Download a file")
def download(ctx: Ctx, path: PathQ, who: Principal = Depends(acting("file.read"))) -> Any:
    fd, size, view_path = files.open_download(ctx.storage, who, path)
    return StreamingResponse(files.stream(fd), media_type="application/octet-stream",
                             headers={"Content-Length": str(size), "X-Argus-Path": view_path})


@router.get("/fs/upload", summary="Where an interrupted upload of a path resumes (its offset)")
def upload_offset(ctx: Ctx, path: PathQ, who: Principal = Depends(acting("file.write"))) -> Any:
    return files.upload_offset(ctx.storage, who, path)


@router.delete("/fs/upload", summary="Discard an interrupted upload (its part file)")
def discard_upload(request: Request, ctx: Ctx, path: PathQ,
                   who: Principal = Depends(acting("file.write"))) -> Any:
    note(request, target=f"file/{who.name}{path}", path=path)
    return files.discard_upload(ctx.storage, who, path)


async def _read_chunk(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"a chunk may carry {fmt_bytes(limit)} at most; this one declares "
                       f"{fmt_bytes(int(declared))}: send it in smaller chunks (offset=...)")
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > limit:
            raise TooLarge(f"a chunk may carry {fmt_bytes(limit)} at most; send smaller chunks")
    return bytes(data)


@router.put("/fs/content", summary="Upload one chunk at offset; final=true with sha256 completes")
async def upload(request: Request, ctx: Ctx, path: PathQ,
                 offset: Annotated[int, Query(ge=0)] = 0, final: bool = True,
                 sha256: Annotated[str | None, Query(max_length=64)] = None,
                 who: Principal = Depends(acting("file.write"))) -> Any:
    require_action(who, "file.write")  # before reading the body
    data = await _read_chunk(request, ctx.settings.upload_chunk_max_bytes)
    note(request, target=f"file/{who.name}{path}", path=path, offset=offset, bytes=len(data),
         final=final)
    result = await run_in_threadpool(files.write_chunk, ctx.storage, who, path, offset, data,
                                     final=final, sha256=sha256)
    if result.get("complete"):
        note(request, sha256=result["sha256"], size=result["size"])
    return result


@router.post("/fs/mkdir", status_code=201, summary="Create a directory (and its parents)")
def mkdir(request: Request, ctx: Ctx, path: PathQ,
          who: Principal = Depends(acting("file.write"))) -> Any:
    note(request, target=f"file/{who.name}{path}", path=path)
    return files.mkdir(ctx.storage, who, path)


@router.post("/fs/rename", summary="Rename or move within your view")
def rename(request: Request, ctx: Ctx, src: PathQ, dst: PathQ,
           who: Principal = Depends(acting("file.write"))) -> Any:
    note(request, target=f"file/{who.name}{src}", src=src, dst=dst)
    return files.rename(ctx.storage, who, src, dst)


@router.delete("/fs/content", summary="Delete a file, or a directory (recursive=true: with all in it)")
def delete(request: Request, ctx: Ctx, path: PathQ, recursive: bool = False,
           who: Principal = Depends(acting("file.write"))) -> Any:
    note(request, target=f"file/{who.name}{path}", path=path, recursive=recursive)
    result = files.delete(ctx.storage, who, path, recursive=recursive)
    note(request, bytes=result["bytes"])
    return result


@router.post("/keys", status_code=201, summary="Register an SSH public key (SFTP sign-in)")
def add_key(body: KeyIn, request: Request, ctx: Ctx, user: str | None = None,
            who: Principal = Depends(acting("key.manage"))) -> Any:
    note(request, target=f"key/{user or who.name}", name=body.name)
    return keys.add_key(ctx.db, who, body.public_key, name=body.name, user=user,
                        audit=audit_of(request))


@router.get("/keys", summary="SSH keys (your own; an admin: anyone's with user=)")
def list_keys(ctx: Ctx, user: str | None = None,
              who: Principal = Depends(acting("key.manage"))) -> Any:
    return {"items": keys.list_keys(ctx.db, who, user)}


@router.delete("/keys/{name}", summary="Remove an SSH key (by name or fingerprint)")
def remove_key(name: str, request: Request, ctx: Ctx, user: str | None = None,
               who: Principal = Depends(acting("key.manage"))) -> Any:
    note(request, target=f"key/{user or who.name}/{name}")
    return keys.remove_key(ctx.db, who, name, user=user, audit=audit_of(request))


@router.get("/teams/{team}/storage", summary="A team's storage quota and usage")
def team_storage(team: str, ctx: Ctx, who: Principal = Depends(acting("team.read"))) -> Any:
    identity.get_team(ctx.db, who, team)  # 403/404 as for the team itself
    return ctx.storage.usage(team)


@router.put("/teams/{team}/storage", summary="Set a team's storage quota (bytes; null: none)")
def set_team_storage(team: str, body: StorageIn, request: Request, ctx: Ctx,
                     who: Principal = Depends(acting("team.storage"))) -> Any:
    note(request, target=f"team/{team}", quota_bytes=body.quota_bytes)
    return ctx.storage.set_quota(who, team, body.quota_bytes, audit_entry=audit_of(request))

