"""One domain error hierarchy. The API maps it to HTTP once; the CLI prints one line."""

from __future__ import annotations

from typing import Any


class ArgusError(Exception):
    """Base of every error a person may see. ``code`` is stable; ``http_status`` is for the API."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidSpec(ArgusError):
    code = "invalid_spec"
    http_status = 422


class BadRequest(ArgusError):
    code = "bad_request"
    http_status = 400


class NotFound(ArgusError):
    code = "not_found"
    http_status = 404


class Conflict(ArgusError):
    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unauthorized(ArgusError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ArgusError):
    code = "forbidden"
    http_status = 403


class PathRefused(Forbidden):
    """A file path that leaves the caller's workspace (``..``, a symlink, another team's)."""

    code = "path_refused"


class TooLarge(ArgusError):
    code = "too_large"
    http_status = 413


class QuotaExceeded(TooLarge):
    code = "quota_exceeded"


class Unavailable(ArgusError):
    code = "unavailable"
    http_status = 503


# Ray adapter errors: typed, so nobody parses Ray's texts outside the adapter.
class RayError(ArgusError):
    code = "ray_error"
    http_status = 502


class RayUnavailable(RayError):
    """The Ray dashboard did not answer (transient)."""

    code = "ray_unavailable"
    http_status = 503


class JobNotFound(RayError):
    code = "ray_job_not_found"
    http_status = 404


class JobAlreadyExists(RayError):
    code = "ray_job_exists"
    http_status = 409


class JobRejected(RayError):
    """Ray refused the job for a reason that retrying will not fix."""

    code = "ray_job_rejected"
    http_status = 422
