"""Authentication and the request audit: every call but /healthz and /readyz needs a token.

``acting("task.cancel")`` is the dependency a route declares: it starts the request's audit
entry (:class:`RequestAudit`) and authenticates the bearer token. Services that change state
write that entry in their own transaction (it counts as recorded once that commits); the
:class:`AuditTrail` middleware writes it for every other request that must leave a trace:
refused ones (401/403), failed state changes (500s included), and reads of the audit trail.
Unauthenticated refusals pass a :class:`~api.noise.NoiseGate` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import get_ctx
from api.noise import NoiseGate, Suppressed
from argus.authz import Principal
from argus.db.audit import RequestAudit, append
from argus.db.engine import Database

log = logging.getLogger(__name__)
AUDITED_READS = {"audit.read"}
# No token and no audit entry: probes, and /metrics (guarded by address; a scraper refused every
# 15 s would flood the trail — refusals are logged instead).
UNAUDITED_PATHS = ("/healthz", "/readyz", "/metrics")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def new_entry(request: Request, action: str) -> RequestAudit:
    state = request.state
    return RequestAudit(action=action, source_ip=getattr(state, "source_ip", ""),
                        request_id=getattr(state, "request_id", ""),
                        client_request_id=getattr(state, "client_request_id", ""),
                        target=request.scope["path"],
                        params=dict(request.query_params) if request.scope["query_string"] else {})


def acting(action: str) -> Callable[[Request], Principal]:
    """Dependency: the authenticated caller, with ``action`` noted for the audit trail."""

    async def dependency(request: Request) -> Principal:
        entry = new_entry(request, action)
        request.state.audit = entry
        principals, token = get_ctx(request).principals, bearer(request)
        # A known token costs no thread hop and no read; otherwise the database, off the loop.
        principal = principals.cached(token) or await run_in_threadpool(principals.authenticate, token)
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


def pending(request: Request, status: int) -> RequestAudit | None:
    """The entry still to write for this request, if it must leave a trace."""
    if request.scope["path"] in UNAUDITED_PATHS:
        return None
    entry: RequestAudit | None = getattr(request.state, "audit", None)
    if entry is not None and entry.recorded:
        return None
    if request.method == "GET" and status not in (401, 403) and status < 500 and (
            entry is None or entry.action not in AUDITED_READS):
        return None
    return entry or new_entry(request, f"{request.method} {request.scope['path']}")  # no route matched


class AuditTrail:
    """Writes the pending entry before the response starts (a client that saw the answer
    finds its entry), and for a request that raised (a 500) before the error goes out."""

    def __init__(self, app: ASGIApp, db: Database, gate: NoiseGate):
        self.app, self.db, self.gate = app, db, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNAUDITED_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        started = False

        async def send_audited(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                await self._write(request, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            if not started:
                await self._write(request, 500)
            raise

    async def _write(self, request: Request, status: int) -> None:
        entry = pending(request, status)
        if entry is None:
            return
        closed: list[Suppressed] = []
        if entry.actor == "-":  # nobody authenticated: noise until proven otherwise
            admitted, closed = self.gate.admit(entry.source_ip)
            if not admitted and not closed:
                return
            entry = entry if admitted else None
        try:
            await run_in_threadpool(_write, self.db, entry, status, closed)
        except (OperationalError, PoolTimeout) as exc:  # the answer (often a 503) still goes out
            log.error("audit entry not written (database unavailable: %s): %s %s by %s from %s "
                      "-> %s, request %s", str(exc)[:200], entry and entry.action,
                      entry and entry.target, entry and entry.actor, entry and entry.source_ip,
                      status, entry and entry.request_id)


def _write(db: Database, entry: RequestAudit | None, status: int, closed: list[Suppressed]) -> None:
    with db.write() as session:
        for window in closed:
            append(session, actor="-", action="audit.suppressed", outcome="denied",
                   source_ip=window.source, target="unauthenticated requests",
                   params={"count": window.count, "from": window.start, "to": window.end})
        if entry is not None:
            entry.record(session, outcome=_outcome(status), http_status=status)
