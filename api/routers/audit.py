"""/v1/audit: export the trail (JSON lines or CSV, filtered) and verify its hash chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from api.auth import acting
from api.context import AppContext, get_ctx
from argus.authz import Principal, require_action
from argus.services import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Ctx = Annotated[AppContext, Depends(get_ctx)]
Auditor = Annotated[Principal, Depends(acting("audit.read"))]
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


@router.get("", summary="Export the audit trail, oldest first")
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


@router.get("/verify", summary="Check the hash chain; report the first broken entry")
def verify(ctx: Ctx, who: Auditor) -> Any:
    require_action(who, "audit.read")
    return audit.verify(ctx.db)
