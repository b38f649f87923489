"""/v1/reports/usage: GPU-hours, tasks, waits, preemptions and failures per team, user or priority."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.auth import acting
from api.context import Ctx
from argus.authz import Principal
from argus.services import audit, report, report_render

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/usage", summary="Usage over a window, grouped by team, user or priority")
def usage(ctx: Ctx, who: Annotated[Principal, Depends(acting("report.read"))], since: str,
          until: str | None = None, by: Literal["team", "user", "priority"] = "team",
          format: Literal["json", "csv", "html"] = "json") -> Any:  # noqa: A002 - the query parameter's name
    body = report.usage(ctx.db, who, by=by, since=audit.parse_time(since), until=audit.parse_time(until),
                        now=time.time())
    if format == "csv":
        return PlainTextResponse(report_render.as_csv(body), media_type="text/csv")
    if format == "html":
        return HTMLResponse(report_render.as_html(body))
    return body
