"""The one module that talks to Ray. It turns Ray's error texts into typed Argus errors.

Jobs go through Ray's ``JobSubmissionClient`` (the dashboard's Jobs API); nodes and placement
groups through the state API on the same dashboard address. Every call has a timeout
(``timeout_s``): a dashboard that accepts the connection and never answers is
:class:`RayUnavailable` after that long, never a hung scheduler tick.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from argus.errors import JobAlreadyExists, JobNotFound, JobRejected, RayError, RayUnavailable
from taskspec import JobRequest

log = logging.getLogger(__name__)

_STATUS_RE = re.compile(r"status code (\d{3})")


@dataclass(frozen=True)
class JobState:
    status: str  # PENDING | RUNNING | STOPPED | SUCCEEDED | FAILED (Ray's JobStatus values)
    message: str = ""
    exit_code: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    driver_node_id: str | None = None
    job_id: str | None = None  # Ray's own job id (hex): what placement groups name as their creator
    error_type: str | None = None  # Ray's JobErrorType, e.g. JOB_SUPERVISOR_ACTOR_DIED


@dataclass(frozen=True)
class PendingGroup:
    """A placement group Ray has not been able to place (state PENDING)."""

    placement_group_id: str
    job_id: str  # the creator's Ray job id (hex)
    gpus: float  # GPUs its bundles ask for, in all
    bundles: int


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    alive: bool
    is_head: bool
    ip: str
    resources: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _translate(exc: Exception, what: str) -> RayError:
    """Map an exception raised by Ray's SDK to a typed error."""
    text = str(exc)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) or "Failed to connect" in text:
        return RayUnavailable(f"Ray is unreachable ({what}): {text.splitlines()[0][:300]}")
    match = _STATUS_RE.search(text)
    code = int(match.group(1)) if match else None
    if "already exists" in text:
        return JobAlreadyExists(f"{what}: the Ray job already exists")
    if code == 404 or "does not exist" in text:
        return JobNotFound(f"{what}: Ray does not know this job")
    if code is not None and 400 <= code < 500:
        return JobRejected(f"{what}: Ray rejected the request: {text[:500]}")
    if code is not None and code >= 500:
        return RayUnavailable(f"Ray answered HTTP {code} ({what}): {text[:300]}")
    if type(exc).__name__ in {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout"}:
        return RayUnavailable(f"Ray is unreachable ({what}): {text[:300]}")
    return RayError(f"{what}: {text[:500]}")


class RayCluster:
    """A Ray cluster reached through its dashboard URL (``http://host:8265``)."""

    def __init__(self, address: str, *, timeout_s: float = 10.0, headers: dict[str, str] | None = None):
        self.address = address.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})  # e.g. Authorization: Bearer <Ray token>
        self._client = None

    def _jobs(self):  # noqa: ANN202 - Ray's client type stays inside this module
        if self._client is None:
            try:
                self._client = _timed_client_class()(self.address, headers=self.headers or None,
                                                     timeout_s=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - translated
                raise _translate(exc, "connect") from exc
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated
            err = _translate(exc, what)
            if isinstance(err, RayUnavailable):
                self._client = None  # reconnect next time
            raise err from exc

    def submit(self, req: JobRequest) -> None:
        """Submit; raises JobAlreadyExists when that submission id is known (idempotent retry)."""
        client = self._jobs()
        self._call(
            f"submit {req.submission_id}",
            client.submit_job,
            entrypoint=req.entrypoint,
            submission_id=req.submission_id,
            runtime_env=req.runtime_env,
            metadata=req.metadata,
            entrypoint_num_cpus=req.entrypoint_num_cpus,
            entrypoint_num_gpus=req.entrypoint_num_gpus,
            entrypoint_resources=req.entrypoint_resources or None,
        )

    def status(self, submission_id: str) -> JobState:
        return _job_state(self._call(f"status {submission_id}", self._jobs().get_job_info, submission_id))

    def list_jobs(self) -> dict[str, JobState]:
        """Every job Ray knows, by submission id, in one call (the reconciler's one per tick)."""
        rows = self._call("list jobs", self._jobs().list_jobs)
        return {row.submission_id: _job_state(row) for row in rows if row.submission_id}

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM, SIGKILL after RAY_JOB_STOP_WAIT_TIME_S)."""
        return bool(self._call(f"stop {submission_id}", self._jobs().stop_job, submission_id))

    def logs(self, submission_id: str) -> str:
        return self._call(f"logs {submission_id}", self._jobs().get_job_logs, submission_id) or ""

    def nodes(self) -> list[NodeInfo]:
        rows = self._call("list nodes", self._state_list, "NODES")
        return [_node_info(row) for row in rows]

    def pending_placement_groups(self) -> list[PendingGroup]:
        """Placement groups still PENDING, one call for the whole cluster."""
        rows = self._call("list placement groups", self._state_list, "PLACEMENT_GROUPS",
                          [("state", "=", "PENDING")])
        return [_pending_group(row) for row in rows]

    def _state_list(self, resource: str, filters: list | None = None) -> list:
        from ray.util.state import StateApiClient  # heavy; only when used
        from ray.util.state.common import ListApiOptions, StateResource

        # The module-level list_* helpers take no headers (token auth): use the client.
        client = StateApiClient(address=self.address, headers=self.headers or None)
        options = ListApiOptions(detail=True, timeout=max(1, int(self.timeout_s)), filters=filters or [])
        return client.list(StateResource[resource], options, raise_on_missing_output=False)


def _timed_client_class():  # noqa: ANN202 - Ray's client type stays inside this module
    """Ray's JobSubmissionClient with a timeout on every HTTP request it makes (it has none)."""
    from ray.job_submission import JobSubmissionClient  # heavy; only when used

    class TimedJobSubmissionClient(JobSubmissionClient):
        def __init__(self, address: str, *, timeout_s: float, **kwargs):  # noqa: ANN003
            self._argus_timeout_s = timeout_s  # before super(): its constructor already calls Ray
            super().__init__(address, **kwargs)

        def _do_request(self, method, endpoint, **kwargs):  # noqa: ANN001, ANN003, ANN202
            kwargs.setdefault("timeout", self._argus_timeout_s)
            return super()._do_request(method, endpoint, **kwargs)

    return TimedJobSubmissionClient


def _job_state(info) -> JobState:  # noqa: ANN001 - Ray's JobInfo or JobDetails
    return JobState(
        status=getattr(info.status, "value", str(info.status)),
        message=info.message or "",
        exit_code=info.driver_exit_code,
        start_time=(info.start_time / 1000) if info.start_time else None,
        end_time=(info.end_time / 1000) if info.end_time else None,
        driver_node_id=info.driver_node_id,
        job_id=getattr(info, "job_id", None),
        error_type=getattr(info, "error_type", None),
    )


def _pending_group(row) -> PendingGroup:  # noqa: ANN001
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    bundles = get("bundles") or []
    gpus = sum(float((b.get("unit_resources") or {}).get("GPU", 0)) for b in bundles)
    return PendingGroup(get("placement_group_id") or "", get("creator_job_id") or "", gpus, len(bundles))


def _node_info(row) -> NodeInfo:  # noqa: ANN001
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    return NodeInfo(
        node_id=get("node_id"),
        alive=get("state") == "ALIVE",
        is_head=bool(get("is_head_node", False)),
        ip=get("node_ip", "") or "",
        resources={k: float(v) for k, v in (get("resources_total", {}) or {}).items()},
        labels={k: str(v) for k, v in (get("labels", {}) or {}).items()},
    )
