"""/v1/snapshots/{sha256}: the code snapshots ``argus submit`` uploads (docs/data.md).

The upload route is ``async`` only to read the body; every disk operation runs in the thread
pool, and the body is bounded by ``ARGUS_SNAPSHOT_MAX_BYTES`` (plus the tar's own headers).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from api.auth import acting, note
from api.context import Ctx
from argus.authz import Principal, require_action
from argus.errors import NotFound, TooLarge
from argus.files.sizes import fmt_bytes
from argus.services import snapshots

router = APIRouter(prefix="/v1/snapshots", tags=["files"])
TAR_OVERHEAD = 1024  # per file, with a floor: headers and padding of the archive itself


@router.get("/{digest}", summary="A snapshot in your workspace: its path, files and bytes")
def get_snapshot(digest: str, ctx: Ctx, who: Principal = Depends(acting("file.read"))) -> Any:
    return snapshots.lookup(ctx.storage, who, digest)


@router.put("/{digest}", summary="Upload a snapshot (a tar); the server checks its sha256")
async def put_snapshot(digest: str, request: Request, ctx: Ctx,
                       who: Principal = Depends(acting("file.write"))) -> Any:
    require_action(who, "file.write")
    with contextlib.suppress(NotFound):
        return await run_in_threadpool(snapshots.lookup, ctx.storage, who, digest)  # deduplicated
    cap = ctx.settings.snapshot_max_bytes
    limit = cap + max(1 << 20, cap // 10)
    declared = request.headers.get("content-length")
    size = int(declared) if declared and declared.isdigit() else None
    if size is not None and size > limit:
        raise TooLarge(f"snapshot: {fmt_bytes(size)} is more than the {fmt_bytes(cap)} a snapshot "
                       "may hold (ARGUS_SNAPSHOT_MAX_BYTES)")
    fd, path = await run_in_threadpool(snapshots.spool, ctx.storage, who, digest, size)
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for piece in request.stream():
                received += len(piece)
                if received > limit:
                    raise TooLarge(f"snapshot: more than {fmt_bytes(cap)} (ARGUS_SNAPSHOT_MAX_BYTES)")
                await run_in_threadpool(out.write, piece)
        note(request, target=f"snapshot/{who.name}/{digest}", snapshot=digest, bytes=received)
        return await run_in_threadpool(snapshots.install, ctx.storage, who, digest, path)
    finally:
        await run_in_threadpool(path.unlink, True)
