"""Authentication and the request audit: every call but /healthz and /readyz needs a token.

``acting("task.cancel")`` is the dependency a route declares: it starts the request's audit
entry (:class:`RequestAudit`) and authenticates the bearer token. Services that change state
write that entry in their own transaction; the middleware here writes it for every other
request that must leave a trace: refused ones (401/403), failed state changes, and reads of
the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from api.context import get_ctx
from argus.authz import Principal
from argus.db.audit import RequestAudit
from argus.services import identity

AUDITED_READS = {"audit.read"}
# No token and no audit entry: probes, and /metrics (guarded by address; a scraper refused every
# 15 s would flood the trail — refusals are logged instead).
UNAUDITED = ("/healthz", "/readyz", "/metrics")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def acting(action: str) -> Callable[[Request], Principal]:
    """Dependency: the authenticated caller, with ``action`` noted for the audit trail."""

    def dependency(request: Request) -> Principal:
        entry = RequestAudit(action=action, source_ip=request.client.host if request.client else "",
                             request_id=getattr(request.state, "request_id", ""),
                             target=request.url.path, params=dict(request.query_params))
        request.state.audit = entry
        principal = identity.authenticate(get_ctx(request).db, bearer(request))
        entry.actor, entry.token_name = principal.name, principal.token_name
        return principal

    return dependency


def audit_of(request: Request) -> RequestAudit:
    return request.state.audit


def note(request: Request, *, target: str | None = None, **params: Any) -> None:
    """Add what a route knows (a spec's name, a created id) to its audit entry."""
    entry = audit_of(request)
    if target is not None:
        entry.target = target
    entry.params.update(params)


def _outcome(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else f"error {status}"


def _pending(request: Request, status: int) -> RequestAudit | None:
    """The entry still to write for this request, if it must leave a trace."""
    if request.url.path in UNAUDITED:
        return None
    entry: RequestAudit | None = getattr(request.state, "audit", None)
    if entry is not None and entry.recorded:
        return None
    if request.method == "GET" and status not in (401, 403) and (
            entry is None or entry.action not in AUDITED_READS):
        return None
    if entry is None:  # no route matched: an unknown path or method
        entry = RequestAudit(action=f"{request.method} {request.url.path}",
                             source_ip=request.client.host if request.client else "",
                             request_id=getattr(request.state, "request_id", ""),
                             target=request.url.path, params=dict(request.query_params))
    return entry


def install(app: FastAPI) -> None:
    """Add the audit middleware (it runs inside the request-id middleware)."""

    @app.middleware("http")
    async def _audit(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        entry = _pending(request, response.status_code)
        if entry is not None:
            await run_in_threadpool(_write, get_ctx(request).db, entry, response.status_code)
        return response


def _write(db, entry: RequestAudit, status: int) -> None:  # noqa: ANN001
    with db.write() as session:
        entry.record(session, outcome=_outcome(status), http_status=status)
