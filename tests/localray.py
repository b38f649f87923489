"""A real multi-node Ray cluster on this host for tests: one head, N workers, logical GPUs."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from argus.raynode import NodeProcess, free_port, head_argv, spawn, worker_argv


@dataclass
class LocalRay:
    root: Path
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    head: NodeProcess | None = None
    workers: list[NodeProcess] = field(default_factory=list)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def start_head(self, timeout: float = 90) -> None:
        argv = head_argv(gcs_port=self.gcs_port, dashboard_host="127.0.0.1",
                         dashboard_port=self.dashboard_port, temp_dir=str(self.root / "head"))
        self.head = spawn(argv, log_path=self.root / "head.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.dashboard_url}/api/version", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not self.head.alive():
                break
            time.sleep(0.5)
        raise RuntimeError(f"Ray head did not come up; see {self.root / 'head.log'}")

    def add_worker(self, *, cpus: int = 2, gpus: int = 0, model: str | None = None) -> NodeProcess:
        resources = {"argus_worker": 1000.0}
        if model:
            resources[f"accelerator_type:{model}"] = 1.0
        n = len(self.workers)
        argv = worker_argv(address=self.gcs_address, num_cpus=cpus, num_gpus=gpus,
                           resources=resources, temp_dir=str(self.root / "head"))  # one temp dir per host: Ray reads job logs there
        proc = spawn(argv, log_path=self.root / f"worker{n}.log")
        self.workers.append(proc)
        return proc

    def wait_workers(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive_workers() >= count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"only {self.alive_workers()} of {count} Ray workers joined")

    def alive_workers(self) -> int:
        try:
            rows = httpx.get(f"{self.dashboard_url}/api/v0/nodes", params={"detail": "1", "limit": 100},
                             timeout=5).json()["data"]["result"]["result"]
        except (httpx.HTTPError, KeyError, ValueError):
            return 0
        return sum(1 for r in rows if r["state"] == "ALIVE" and "argus_worker" in r.get("resources_total", {}))

    def stop(self) -> None:
        for proc in self.workers:
            proc.stop()
        if self.head is not None:
            self.head.stop()


def start_local_ray(workers: list[dict]) -> LocalRay:
    root = Path(tempfile.mkdtemp(prefix="argus-ray-", dir="/tmp"))
    cluster = LocalRay(root)
    try:
        cluster.start_head()
        # One at a time: raylets that start together on one shared temp dir can trip over each
        # other's session set-up.
        for count, spec in enumerate(workers, start=1):
            _add_and_wait(cluster, spec, count)
    except Exception:
        cluster.stop()
        raise RuntimeError(f"local Ray cluster failed to start; logs in {root}") from None
    return cluster


def _add_and_wait(cluster: LocalRay, spec: dict, count: int, tries: int = 2) -> None:
    """Start one worker and wait for it; a worker that never joins (a port taken between
    choosing and binding it) is stopped and started again on fresh ports, once."""
    for attempt in range(1, tries + 1):
        proc = cluster.add_worker(**spec)
        try:
            cluster.wait_workers(count, timeout=60)
            return
        except RuntimeError:
            proc.stop()
            cluster.workers.remove(proc)
            if attempt == tries:
                raise
