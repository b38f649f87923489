"""The one module that talks to Ray. It turns Ray's error texts into typed Argus errors.

Jobs go through Ray's ``JobSubmissionClient`` (the dashboard's Jobs API); nodes through the
state API on the same dashboard address.
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
            from ray.job_submission import JobSubmissionClient  # heavy; only when used

            try:
                self._client = JobSubmissionClient(self.address, headers=self.headers or None)
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
        info = self._call(f"status {submission_id}", self._jobs().get_job_info, submission_id)
        status = getattr(info.status, "value", str(info.status))
        return JobState(
            status=status,
            message=info.message or "",
            exit_code=info.driver_exit_code,
            start_time=(info.start_time / 1000) if info.start_time else None,
            end_time=(info.end_time / 1000) if info.end_time else None,
            driver_node_id=info.driver_node_id,
        )

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM, SIGKILL after RAY_JOB_STOP_WAIT_TIME_S)."""
        return bool(self._call(f"stop {submission_id}", self._jobs().stop_job, submission_id))

    def logs(self, submission_id: str) -> str:
        return self._call(f"logs {submission_id}", self._jobs().get_job_logs, submission_id) or ""

    def nodes(self) -> list[NodeInfo]:
        from ray.util.state import StateApiClient
        from ray.util.state.common import ListApiOptions, StateResource

        def list_nodes():  # noqa: ANN202 - list_nodes() itself takes no headers (token auth)
            client = StateApiClient(address=self.address, headers=self.headers or None)
            return client.list(StateResource.NODES, ListApiOptions(detail=True, timeout=int(self.timeout_s)),
                               raise_on_missing_output=False)

        rows = self._call("list nodes", list_nodes)
        return [_node_info(row) for row in rows]


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
