"""A Ray stand-in for API tests only (the real adapter is tested against real Ray)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from argus.cluster import ClusterRef
from argus.errors import JobAlreadyExists, JobNotFound
from argus.ray_adapter import JobState, NodeInfo, PendingGroup


@dataclass
class FakeRay:
    address: str = "http://fake-ray:8265"
    jobs: dict[str, str] = field(default_factory=dict)
    requests: dict[str, object] = field(default_factory=dict)
    node_list: list[NodeInfo] = field(default_factory=lambda: [
        NodeInfo("w1", True, False, "10.0.0.1", {"CPU": 4, "GPU": 8, "argus_worker": 1000,
                                                  "accelerator_type:H100": 1})])

    # An ended job's exit code and message, and its driver log (default: "log of <sid>").
    endings: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    log_text: dict[str, str] = field(default_factory=dict)
    pending_groups: list[PendingGroup] = field(default_factory=list)
    # Errors the next calls of a method raise, in order (what a flaky Ray answers).
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.failures.get(name):
            raise self.failures[name].pop(0)

    def end(self, sid: str, status: str, exit_code: int | None, message: str = "", log: str = "") -> None:
        """The job ends in Ray as ``status`` with that exit code, message and driver log."""
        self.jobs[sid] = status
        self.endings[sid] = (exit_code, message)
        if log:
            self.log_text[sid] = log

    def job_id(self, sid: str) -> str:
        return f"{list(self.jobs).index(sid) + 1:08x}"

    def submit(self, req) -> None:  # noqa: ANN001
        self._call("submit")
        if req.submission_id in self.jobs:
            raise JobAlreadyExists("exists")
        self.jobs[req.submission_id] = "RUNNING"
        self.requests[req.submission_id] = req

    def status(self, sid: str) -> JobState:
        self._call("status")
        return self._state(sid)

    def _state(self, sid: str) -> JobState:
        if sid not in self.jobs:
            raise JobNotFound(sid)
        code, message = self.endings.get(sid, (0 if self.jobs[sid] == "SUCCEEDED" else None, ""))
        return JobState(self.jobs[sid], message=message, exit_code=code, job_id=self.job_id(sid))

    def list_jobs(self) -> dict[str, JobState]:
        self._call("list_jobs")
        return {sid: self._state(sid) for sid in self.jobs}

    def pending_placement_groups(self) -> list[PendingGroup]:
        self._call("pending_placement_groups")
        return list(self.pending_groups)

    def stop(self, sid: str) -> bool:
        self._call("stop")
        if sid not in self.jobs:
            raise JobNotFound(sid)
        self.jobs[sid] = "STOPPED"
        return True

    def logs(self, sid: str) -> str:
        self._call("logs")
        if sid not in self.jobs:
            raise JobNotFound(sid)
        return self.log_text.get(sid, f"log of {sid}\n")

    def nodes(self) -> list[NodeInfo]:
        self._call("nodes")
        return self.node_list


class FakeProvider:
    def __init__(self, ray: FakeRay):
        self.ray = ray

    def current(self) -> ClusterRef:
        return ClusterRef(self.ray, None)
