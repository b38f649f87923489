"""Health, readiness and the task schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.auth import acting
from api.context import Ctx, get_ctx
from api.schemas import Health, Readiness
from argus import __version__
from argus.authz import Principal
from argus.db.migrate import current_revision, head_revision
from argus.services.lease_status import lease_status
from taskspec import spec_json_schema

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="The process is up; whether its scheduler leads or stands by",
            response_model=Health)
async def healthz(ctx: Ctx) -> dict[str, Any]:
    """Answers from memory only (no database, no Ray, nothing that blocks: attribute reads), on
    the event loop itself: it answers while the thread pool is busy with slow work (a shared
    filesystem, a locked database); a ``def`` route would queue behind that work."""
    scheduler = ctx.scheduler
    role = "off" if scheduler is None else scheduler.role
    body: dict[str, Any] = {"status": "ok", "version": __version__, "scheduler": role}
    if scheduler is not None:
        body["scheduler_id"] = scheduler.lease.holder
    return body


@router.get("/readyz", summary="The DB is reachable and migrated; the embedded scheduler ticks",
            response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    checks: dict[str, Any] = {}
    try:
        checks["db"] = "ok" if current_revision(ctx.db) == head_revision() else "not migrated"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["db"] = f"error: {type(exc).__name__}"
    try:
        checks["scheduler_lease"] = lease_status(ctx.db)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["scheduler_lease"] = f"error: {type(exc).__name__}"
    if ctx.scheduler is not None:
        checks["scheduler"] = "ok" if ctx.scheduler.healthy() else (
            f"stalled: {ctx.scheduler.last_error}" if ctx.scheduler.last_error else "starting")
    ref = ctx.provider.current()
    checks["ray"] = ref.cluster.address if ref.cluster else f"unavailable: {ref.why_not}"
    ready = checks["db"] == "ok" and checks.get("scheduler", "ok") == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/v1/schema", summary="JSON schema of the task spec")
def schema(_who: Annotated[Principal, Depends(acting("schema.read"))]) -> dict[str, Any]:
    return spec_json_schema()
