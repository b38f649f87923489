"""Two `argus server` processes on one SQLite file and a real Ray cluster; the one holding the
scheduler lease is killed (SIGKILL) mid-run. The other takes over within the lease time; every
task ends with exactly one Ray job, and Ray never ran more than the cluster holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.store import installation_id
from argus.ray_adapter import RayCluster
from argus.raynode import free_port
from argus.services.identity import bootstrap_admin
from tests.conftest import until

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LEASE_S = 3.0
TASKS = 6  # 4 GPUs each on 2 workers x 4 GPUs: at most 2 at a time


def _server(root: Path, ray_url: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_STATE_DIR=str(root / "state"), ARGUS_SHARED_ROOT=str(root / "shared"),
               ARGUS_RAY_ADDRESS=ray_url, ARGUS_TICK_SECONDS="0.3",
               ARGUS_SCHEDULER_LEASE_SECONDS=str(LEASE_S), ARGUS_SHARED_PATHS=f'["{EXAMPLES}"]',
               ARGUS_STOP_WAIT_SECONDS="5")
    log = open(root / f"server-{port}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "argus.cli.main", "server", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _health(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
    except httpx.HTTPError:
        return None


def test_killing_the_lease_holder_hands_over_without_a_second_job(local_ray, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'state' / 'argus.db'}")
    upgrade(db)
    token = bootstrap_admin(db, "admin")["token"]
    with db.read() as session:
        prefix = f"argus-{installation_id(session)}-"
    db.dispose()
    ports = [free_port(), free_port()]
    servers = {p: _server(tmp_path, local_ray.dashboard_url, p) for p in ports}
    try:
        until(lambda: all(_health(p) for p in ports), 60, "both servers up")
        roles = until(lambda: sorted((_health(p) or {}).get("scheduler", "") for p in ports)
                       == ["leader", "standby"] and {p: _health(p)["scheduler"] for p in ports},
                       30, "one leader, one standby")
        leader = next(p for p, role in roles.items() if role == "leader")
        survivor = next(p for p in ports if p != leader)
        http = httpx.Client(base_url=f"http://127.0.0.1:{survivor}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        spec = {"kind": "custom", "name": "sleep", "code": str(EXAMPLES / "tiny_train"),
                "command": ["python", "-c", "import time; time.sleep(3)"],
                "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "4(H100)"}}
        ids = [http.post("/v1/tasks", json={**spec, "name": f"s{i}"}).json()["id"] for i in range(TASKS)]
        until(lambda: sum(http.get(f"/v1/tasks/{i}").json()["status"] == "SUCCEEDED" for i in ids) >= 1
               or None, 120, "a first task to finish")
        os.killpg(servers[leader].pid, signal.SIGKILL)  # kill -9: no release, no goodbye
        killed = time.monotonic()
        until(lambda: (_health(survivor) or {}).get("scheduler") == "leader", 60, "the takeover")
        takeover_s = time.monotonic() - killed
        until(lambda: all(http.get(f"/v1/tasks/{i}").json()["status"] == "SUCCEEDED" for i in ids),
               240, "every task to succeed")
        tasks = [http.get(f"/v1/tasks/{i}").json() for i in ids]
        http.close()
    finally:
        for proc in servers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
    assert takeover_s < LEASE_S + 5
    assert [t["attempts"] for t in tasks] == [1] * TASKS  # nothing admitted twice
    jobs = {sid: state for sid, state in RayCluster(local_ray.dashboard_url).list_jobs().items()
            if sid.startswith(prefix)}
    assert len(jobs) == TASKS  # one Ray job per task, none duplicated
    spans = sorted((j.start_time, j.end_time) for j in jobs.values())
    for start, _end in spans:  # never more than the cluster holds at once
        assert sum(1 for s, e in spans if s <= start < e) <= 2, spans
