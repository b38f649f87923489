"""A Ray stand-in for API tests only (the real adapter is tested against real Ray)."""

from __future__ import annotations

from dataclasses import dataclass, field

from argus.cluster import ClusterRef
from argus.errors import JobAlreadyExists, JobNotFound
from argus.ray_adapter import JobState, NodeInfo


@dataclass
class FakeRay:
    address: str = "http://fake-ray:8265"
    jobs: dict[str, str] = field(default_factory=dict)
    requests: dict[str, object] = field(default_factory=dict)
    node_list: list[NodeInfo] = field(default_factory=lambda: [
        NodeInfo("w1", True, False, "10.0.0.1", {"CPU": 4, "GPU": 8, "argus_worker": 1000,
                                                  "accelerator_type:H100": 1})])

    def submit(self, req) -> None:  # noqa: ANN001
        if req.submission_id in self.jobs:
            raise JobAlreadyExists("exists")
        self.jobs[req.submission_id] = "RUNNING"
        self.requests[req.submission_id] = req

    def status(self, sid: str) -> JobState:
        if sid not in self.jobs:
            raise JobNotFound(sid)
        return JobState(self.jobs[sid], exit_code=0 if self.jobs[sid] == "SUCCEEDED" else None)

    def stop(self, sid: str) -> bool:
        if sid not in self.jobs:
            raise JobNotFound(sid)
        self.jobs[sid] = "STOPPED"
        return True

    def logs(self, sid: str) -> str:
        if sid not in self.jobs:
            raise JobNotFound(sid)
        return f"log of {sid}\n"

    def nodes(self) -> list[NodeInfo]:
        return self.node_list


class FakeProvider:
    def __init__(self, ray: FakeRay):
        self.ray = ray

    def current(self) -> ClusterRef:
        return ClusterRef(self.ray, None)
