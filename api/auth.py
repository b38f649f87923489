"""Authentication and the request audit: every call but /healthz and /readyz needs a token.

``acting("task.cancel")`` is the dependency a route declares: it authenticates the bearer
token and names the action for the audit. The audit middleware then records every
state-changing request, every denied one and every read of the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from api.context import get_ctx
from argus.authz import Principal
from argus.db import audit
from argus.services import identity

AUDITED_READS = {"audit.read"}


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def acting(action: str) -> Callable[[Request], Principal]:
    """Dependency: the authenticated caller, with ``action`` noted for the audit trail."""

    def dependency(request: Request) -> Principal:
        request.state.action = action
        request.state.audit_params = {}
        principal = identity.authenticate(get_ctx(request).db, bearer(request))
        request.state.principal = principal
        return principal

    return dependency


def note(request: Request, *, target: str | None = None, **params: Any) -> None:
    """Add what a route knows (a created id, a spec's name) to its audit entry."""
    if target is not None:
        request.state.audit_target = target
    request.state.audit_params = {**getattr(request.state, "audit_params", {}), **params}


def _outcome(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else f"error {status}"


def _should_record(request: Request, status: int) -> bool:
    if request.url.path in ("/healthz", "/readyz"):
        return False
    action = getattr(request.state, "action", None)
    return request.method != "GET" or status in (401, 403) or action in AUDITED_READS


def _entry(request: Request, status: int) -> dict[str, Any]:
    principal: Principal | None = getattr(request.state, "principal", None)
    params = {k: v for k, v in request.query_params.items()}
    params.update(getattr(request.state, "audit_params", {}) or {})
    params["http_status"] = status
    return {
        "actor": principal.name if principal else "-",
        "token_name": principal.token_name if principal else "",
        "source_ip": request.client.host if request.client else "",
        "action": getattr(request.state, "action", None) or f"{request.method} {request.url.path}",
        "target": getattr(request.state, "audit_target", None) or request.url.path,
        "params": params,
        "outcome": _outcome(status),
        "request_id": getattr(request.state, "request_id", ""),
    }


def install(app: FastAPI) -> None:
    """Add the audit middleware (it runs inside the request-id middleware)."""

    @app.middleware("http")
    async def _audit(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        if _should_record(request, response.status_code):
            entry = _entry(request, response.status_code)
            await run_in_threadpool(_write, get_ctx(request).db, entry)
        return response


def _write(db, entry: dict[str, Any]) -> None:  # noqa: ANN001
    with db.write() as session:
        audit.append(session, **entry)
