"""The node pool across hosts: heads and workers in separate network namespaces.

The head agent runs in one namespace, two worker agents in two others, all sharing one shared
root; the Argus server runs in the root namespace and reaches them over a bridge. We kill the
head, start a new one elsewhere (or on the same address), and check that both workers rejoin on
their own — each exactly one Ray node, seen through the new head — and that the running task
ends SUCCEEDED on the new cluster, resumed from its checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from argus import headrecord as hr
from argus.client import ArgusClient
from argus.cluster import HeadRecordCluster
from argus.nodepool import auth_headers, read_token
from argus.ray_adapter import RayCluster, RayError
from argus.settings import Settings
from tests.cluster.netlab import Host, NetLab, read_json, unavailable_reason
from tests.conftest import ServerThread, admin_app
from tests.integration.conftest import EXAMPLES, wait_for, wait_status

pytestmark = pytest.mark.cluster


class Pool:
    """One lab: the shared root, the hosts, and helpers to start agents on them."""

    def __init__(self, lab: NetLab, root: Path):
        self.lab, self.root, self.shared = lab, root, root / "shared"
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="a3ray-", dir="/tmp"))  # short: socket paths
        self.extra_env: dict[str, str] = {}  # e.g. Ray's own RAY_* timeouts, for every agent started

    def env(self, host: Host) -> dict[str, str]:
        return {"ARGUS_SHARED_ROOT": str(self.shared), "ARGUS_RAY_TEMP_DIR": str(self.ray_tmp),
                "ARGUS_NODE_IP": host.ip, "ARGUS_HEAD_LEASE_SECONDS": "8", "ARGUS_HEAD_RENEW_SECONDS": "1",
                "ARGUS_WORKER_POLL_SECONDS": "0.5", "ARGUS_STATE_DIR": str(self.root / host.name),
                **self.extra_env}

    def start_head(self, host: Host) -> None:
        self.lab.start(host, "head", ["start", "--state-dir", str(self.root / host.name / "head")],
                       self.env(host), self.root / f"{host.name}-head.log")

    def start_worker(self, host: Host) -> None:
        self.lab.start(host, "worker", ["start", "--state-dir", str(self.root / host.name / "worker"),
                                        "--num-cpus", "2", "--num-gpus", "2", "--gpu-model", "H100"],
                       self.env(host), self.root / f"{host.name}-worker.log")

    def wait_record(self, epoch_above: int, timeout: float = 120) -> tuple[hr.HeadRecord, float]:
        """The first live record with a higher epoch, and when we first saw it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                record = hr.read_record(self.shared)
                if record.epoch > epoch_above and record.live(time.time()):
                    return record, time.time()
            except (hr.RecordMissing, hr.BadRecord):
                pass
            time.sleep(0.1)
        raise AssertionError(f"no head with epoch > {epoch_above} published; logs in {self.root}")

    def ray(self, record: hr.HeadRecord) -> RayCluster:
        return RayCluster(record.dashboard_url, headers=auth_headers(read_token(self.shared)))

    def workers_per_ip(self, record: hr.HeadRecord) -> Counter:
        try:
            nodes = self.ray(record).nodes()
        except RayError:
            return Counter()
        return Counter(n.ip for n in nodes if n.alive and "argus_worker" in n.resources)

    def wait_joined(self, record: hr.HeadRecord, ips: list[str], timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        seen: Counter = Counter()
        while time.monotonic() < deadline:
            seen = self.workers_per_ip(record)
            if all(seen[ip] >= 1 for ip in ips):
                return time.time()
            time.sleep(0.2)
        raise AssertionError(f"workers {ips} did not all join epoch {record.epoch}: {dict(seen)}; "
                             f"logs in {self.root}")

    def kill_head(self, host: Host) -> None:
        """Kill the head agent's process group and its Ray head's group, then whatever is left."""
        status = read_json(self.root / host.name / "head" / "head-status.json")
        for proc in host.procs:
            os.killpg(proc.pid, signal.SIGKILL)
        if status.get("child_pid"):
            try:
                os.killpg(status["child_pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.lab.kill_host(host)


def wait_worker_status(path: Path, predicate, timeout: float = 60) -> dict:  # noqa: ANN001
    """The worker agent's status file once ``predicate`` holds (it is written after each step)."""
    deadline = time.monotonic() + timeout
    status = read_json(path)
    while time.monotonic() < deadline:
        status = read_json(path)
        if predicate(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"{path} never matched: {status}")


@pytest.fixture
def pool(tmp_path: Path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = NetLab().up()
    pool = Pool(lab, tmp_path)
    try:
        yield pool
    finally:
        lab.down()
        import shutil

        shutil.rmtree(pool.ray_tmp, ignore_errors=True)


def start_pool(pool: Pool, workers: int = 2) -> tuple[Host, list[Host], hr.HeadRecord]:
    head = pool.lab.add_host("h1")
    workers = [pool.lab.add_host(f"w{i + 1}") for i in range(workers)]
    pool.start_head(head)
    for host in workers:
        pool.start_worker(host)
    record, _ = pool.wait_record(0)
    pool.wait_joined(record, [w.ip for w in workers])
    return head, workers, record


def assert_one_node_each(pool: Pool, record: hr.HeadRecord, workers: list[Host]) -> None:
    per_ip = pool.workers_per_ip(record)
    assert {ip: per_ip[ip] for ip in (w.ip for w in workers)} == {w.ip: 1 for w in workers}, per_ip
    assert sum(per_ip.values()) == len(workers), f"stray Ray nodes: {per_ip}"


def test_new_head_on_another_host_workers_rejoin_and_the_task_resumes(pool: Pool) -> None:
    head, workers, first = start_pool(pool)
    settings = Settings(state_dir=pool.root / "server", shared_root=pool.shared, tick_seconds=0.5,
                        stop_wait_seconds=10, shared_paths=[EXAMPLES])
    app, token = admin_app(settings, HeadRecordCluster(pool.shared))
    with ServerThread(app) as server:
        client = ArgusClient(server.url, token=token)
        spec = {"kind": "custom", "name": "across-heads", "priority": "online",
                "code": str(EXAMPLES / "tiny_train"), "resources": {"nodes": 1, "cpus": 1},
                "command": ["python", "train.py", "--steps", "120", "--sleep", "0.25"],
                "checkpoint": {"save_freq": 10}, "retry": {"max_attempts": 3}}
        task = client.submit(spec)
        wait_for(client, task["id"], lambda t: (t["latest_step"] or 0) >= 20, timeout=180, what="step 20")

        pool.kill_head(head)
        new_head = pool.lab.add_host("h2")
        pool.start_head(new_head)
        second, published_at = pool.wait_record(first.epoch)
        assert second.gcs_address.startswith(new_head.ip + ":") and new_head.ip != head.ip
        joined_at = pool.wait_joined(second, [w.ip for w in workers])
        print(f"\nrejoin after a new head on another host: {joined_at - published_at:.1f}s "
              f"(epoch {first.epoch} -> {second.epoch})")
        assert_one_node_each(pool, second, workers)

        done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=300)
        assert done["status"] == "SUCCEEDED", done
        assert done["attempts"] >= 2
        assert "LOST" in [e["to"] for e in client.events(task["id"])]
        final = json.loads((Path(done["checkpoint_dir"]) / "final.json").read_text())
        assert final["final_step"] == 120
        assert final["resumed_from"] and final["resumed_from"][-1] >= 20
        client.close()


def test_head_restarted_on_the_same_address_workers_rejoin_the_new_session(pool: Pool) -> None:
    head, workers, first = start_pool(pool)
    pool.kill_head(head)
    pool.start_head(head)
    second, published_at = pool.wait_record(first.epoch)
    assert second.gcs_address == first.gcs_address and second.session_name != first.session_name
    joined_at = pool.wait_joined(second, [w.ip for w in workers])
    print(f"\nrejoin after a head restart on the same address: {joined_at - published_at:.1f}s")
    assert_one_node_each(pool, second, workers)
    for w in workers:
        status = wait_worker_status(pool.root / w.name / "worker" / "worker-status.json",
                                    lambda s: s.get("joined_epoch") == second.epoch and s.get("child_pid"))
        assert status["joined_session"] == second.session_name


# Ray's own timeouts, shortened so that "down past the reconnect timeout" takes seconds, not
# minutes: the raylet gives up on an unreachable GCS after RECONNECT_S, and the GCS declares a
# silent node dead after about three missed 1 s health checks.
RECONNECT_S = 8
SHORT_RAY_TIMEOUTS = {"RAY_gcs_rpc_server_reconnect_timeout_s": str(RECONNECT_S),
                      "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                      "RAY_health_check_failure_threshold": "3"}


def test_worker_whose_link_is_down_past_the_reconnect_timeout_rejoins(pool: Pool) -> None:
    pool.extra_env = SHORT_RAY_TIMEOUTS
    head, (worker,), record = start_pool(pool, workers=1)
    status_path = pool.root / worker.name / "worker" / "worker-status.json"
    first_child = wait_worker_status(status_path, lambda s: s.get("child_pid"))["child_pid"]
    first_nodes = {n.node_id for n in pool.ray(record).nodes() if n.alive and n.ip == worker.ip}
    assert len(first_nodes) == 1

    pool.lab.set_link(worker, up=False)
    down_for = 3 * RECONNECT_S
    deadline = time.monotonic() + down_for
    while time.monotonic() < deadline:  # the head sees the node die while the cable is out
        if pool.workers_per_ip(record)[worker.ip] == 0:
            break
        time.sleep(0.5)
    assert pool.workers_per_ip(record)[worker.ip] == 0, "the head still sees the unplugged worker"
    time.sleep(max(0.0, deadline - time.monotonic()))  # stay down past the raylet's reconnect timeout
    pool.lab.set_link(worker, up=True)
    plugged = time.time()

    joined_at = pool.wait_joined(record, [worker.ip], timeout=120)
    print(f"\nrejoin after the link was down {down_for}s: {joined_at - plugged:.1f}s after it came back")
    alive = [n for n in pool.ray(record).nodes() if n.alive and n.ip == worker.ip]
    assert len(alive) == 1 and alive[0].node_id not in first_nodes, alive
    status = wait_worker_status(status_path, lambda s: s.get("child_pid") not in (None, first_child))
    assert status["joined_epoch"] == record.epoch, status
