"""One JSON error shape for every failure: {"error": {code, message, details, request_id}}.

``request_id`` is the server's id of the request (:mod:`api.middleware`); the same id is in
the ``X-Request-ID`` header and in the request's audit entry.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.middleware import new_request_id
from argus.errors import ArgusError
from taskspec import SpecError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 2
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not rid:
        rid = request.state.request_id = new_request_id()
    return rid


def error_body(request: Request, code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or [],
                      "request_id": request_id(request)}}


def _field(loc: tuple) -> str:
    """``body.resources.cpus`` / ``path.task_id``: where FastAPI found the problem."""
    return ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(ArgusError)
    async def _argus(request: Request, exc: ArgusError) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.http_status == 503 else None
        return JSONResponse(error_body(request, exc.code, exc.message, exc.details),
                            exc.http_status, headers=headers)

    @app.exception_handler(SpecError)
    async def _spec(request: Request, exc: SpecError) -> JSONResponse:
        details = [{"path": i.path, "message": i.message} for i in exc.issues]
        return JSONResponse(error_body(request, "invalid_spec", str(exc), details), 422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"path": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        msg = "; ".join(f"{d['path']}: {d['message']}" for d in details)
        return JSONResponse(error_body(request, "bad_request", msg, details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(request, code, str(exc.detail)), exc.status_code,
                            headers=exc.headers)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc)[:300])
        body = error_body(request, "unavailable", "the database is busy or unreachable; "
                          f"retry in {RETRY_AFTER_S} s")
        return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_S)})

    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(PoolTimeout, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, rid)
        body = error_body(request, "internal",
                          f"internal error ({type(exc).__name__}); see the server log, request {rid}")
        return JSONResponse(body, 500, headers={"X-Request-ID": rid})
