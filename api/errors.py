"""One JSON error shape for every failure: {"error": {code, message, details, request_id}}."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from argus import logsetup
from argus.errors import ArgusError
from taskspec import SpecError

log = logging.getLogger(__name__)


def error_body(request: Request, code: str, message: str, details: list | None = None) -> dict:
    rid = getattr(request.state, "request_id", None) or uuid.uuid4().hex[:12]
    return {"error": {"code": code, "message": message, "details": details or [], "request_id": rid}}


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _request_id(request: Request, call_next):  # noqa: ANN001, ANN202
        request.state.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:12]
        token = logsetup.request_id.set(request.state.request_id)  # JSON log lines carry it
        try:
            response = await call_next(request)
        finally:
            logsetup.request_id.reset(token)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.exception_handler(ArgusError)
    async def _argus(request: Request, exc: ArgusError) -> JSONResponse:
        return JSONResponse(error_body(request, exc.code, exc.message, exc.details), exc.http_status)

    @app.exception_handler(SpecError)
    async def _spec(request: Request, exc: SpecError) -> JSONResponse:
        details = [{"path": i.path, "message": i.message} for i in exc.issues]
        return JSONResponse(error_body(request, "invalid_spec", str(exc), details), 422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        msg = "; ".join(f"{d['path']}: {d['message']}" for d in details)
        return JSONResponse(error_body(request, "bad_request", msg, details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(request, code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(request, "internal", f"internal error ({type(exc).__name__}); see the server log"),
            500,
        )
