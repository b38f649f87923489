"""/v1/audit: export the trail (JSON lines or CSV, filtered) and verify its hash chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.auth import acting
from api.context import Ctx
from api.schemas import VerifyReport
from argus.authz import Principal, require_action
from argus.errors import BadRequest
from argus.services import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(acting("audit.read"))]
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


@router.get("", summary="Export the audit trail, oldest first", response_class=StreamingResponse,
            responses={200: {"content": {m: {"schema": {"type": "string"}} for m in MEDIA.values()}}})
def export(
    ctx: Ctx,
    who: Auditor,
    since: str | None = None,
    until: str | None = None,
    user: str | None = None,
    action: str | None = None,
    format: Literal["jsonl", "csv"] = "jsonl",  # noqa: A002 - the query parameter's name
) -> Any:
    require_action(who, "audit.read")
    rows = audit.entries(ctx.db, since=audit.parse_time(since), until=audit.parse_time(until),
                         user=user, action=action)
    body = audit.as_csv(rows) if format == "csv" else audit.as_jsonl(rows)
    return StreamingResponse(body, media_type=MEDIA[format])


@router.get("/verify", summary="Check the hash chain; report the first broken entry",
            response_model=VerifyReport)
def verify(
    ctx: Ctx,
    who: Auditor,
    anchor_entries: Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
        "With anchor_hash: an anchor exported earlier (argus audit anchor); the trail must "
        "still have that many entries, the last of them with that hash"))] = None,
    anchor_hash: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> Any:
    require_action(who, "audit.read")
    if (anchor_entries is None) != (anchor_hash is None):
        raise BadRequest("give both anchor_entries and anchor_hash (an anchor), or neither")
    anchor = None if anchor_hash is None else {"entries": anchor_entries, "head_hash": anchor_hash}
    return audit.verify(ctx.db, anchor)
