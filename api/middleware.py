"""Plain ASGI middleware that every request passes: its ids, its source and the body limit.

Written against ASGI directly (not ``BaseHTTPMiddleware``): nothing here buffers a response,
starts a task or touches a stream, so streamed log follows cost nothing extra.

- **Request ids.** The server makes every request's id (``X-Request-ID`` of the response, the
  error body's ``request_id``, the audit entry's ``request_id``); a client's own
  ``X-Request-ID`` is kept beside it (``client_request_id``), never in its place.
- **Source address.** The peer's address; ``X-Forwarded-For`` is believed only when the peer
  is one of ``trusted_proxies`` (none by default), and then its right-most address that is
  not itself a trusted proxy is the source.
- **Body limit.** A body longer than ``max_body_bytes`` is refused with 413: from
  ``Content-Length`` before a byte is read, and while it streams when there is none.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from argus import logsetup

CLIENT_ID_MAX = 64


def new_request_id() -> str:
    """16 hex digits. An id, not a secret: from ``random`` (no system call, so no release of the
    GIL per request as ``uuid4``'s ``os.urandom`` has; reseeded in a forked process)."""
    return f"{random.getrandbits(64):016x}"


def _client_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return "".join(ch for ch in text if ch.isprintable())[:CLIENT_ID_MAX]
    return ""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> list[Network]:
    """``trusted_proxies`` as networks; a bad entry is a settings error (raised at start)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]


def _trusted(address: str, trusted: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def source_address(scope: Scope, trusted: list[Network]) -> str:
    peer = scope["client"][0] if scope.get("client") else ""
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
    hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain proves nothing
        if not _trusted(hop, trusted):
            return hop
    return peer


class RequestContext:
    """Outermost: the request's server-made id, the client's id and the source address."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()):
        self.app = app
        self.trusted = networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"], state["client_request_id"] = rid, _client_id(scope)
        state["source_ip"] = source_address(scope, self.trusted)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        token = logsetup.request_id.set(rid)  # JSON log lines carry it
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logsetup.request_id.reset(token)


def too_large_message(limit: int) -> str:
    return (f"the request body is larger than {limit} bytes (ARGUS_MAX_BODY_BYTES, or the "
            "upload limits for files and snapshots); a task spec is a few kilobytes")


class BodyLimit:
    """413 for a body over ``limit`` bytes, before reading it when Content-Length says so.

    ``uploads``: (path prefix, limit) of routes that stream large bodies (file chunks, code
    snapshots) to disk and hold to their own, larger limit; the body is still bounded there."""

    def __init__(self, app: ASGIApp, limit: int, uploads: tuple[tuple[str, int], ...] = ()):
        self.app = app
        self.limit = limit
        self.uploads = uploads

    def _limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.uploads if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, 413, "too_large", too_large_message(limit))
            return
        await self.app(scope, _counting(receive, limit), send)


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:  # the route's body read fails; the handler answers 413
                raise HTTPException(413, too_large_message(limit))
        return message

    return bounded


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
    """An error answered before the app runs, in the one JSON error shape."""
    state: dict[str, Any] = scope.get("state", {})
    body = json.dumps({"error": {"code": code, "message": message, "details": [],
                                 "request_id": state.get("request_id") or new_request_id()}})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body.encode()})
