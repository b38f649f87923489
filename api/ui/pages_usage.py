"""Usage: the report of ``argus report`` as a page (GPU-hours, waits, failures, GPUs over time)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from api.context import Ctx
from api.ui.deps import Viewer, render, ui_acting
from argus.services import report, report_render

router = APIRouter(prefix="/ui", include_in_schema=False)
WINDOWS = {"1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400}


@router.get("/usage")
def usage_page(request: Request, ctx: Ctx, who: Annotated[Viewer, Depends(ui_acting("report.read"))],
               window: str = "7d", by: str = "team") -> Response:
    span = WINDOWS.get(window, WINDOWS["7d"])
    now = time.time()
    body = report.usage(ctx.db, who.principal, by=by, since=now - span, until=now, now=now)
    svg = {k: Markup(v) for k, v in report_render.charts(body).items()}  # built from escaped values
    return render(request, "usage.html", report=body, charts=svg, window=window, windows=list(WINDOWS),
                  groupings=list(report.GROUPS))
