"""Observability end to end: `argus up` (head agent, two worker agents with node exporters and
kernel-log files, the server), a real Prometheus scraping them, and an Xid line that drains a
node: the task on it is stopped, requeued and resumes on the other node."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from argus.client import ArgusClient
from argus.raynode import free_port
from tests.integration.conftest import EXAMPLES, wait_for, wait_status
from tests.unit.test_prometheus_rules import metric_names

pytestmark = pytest.mark.integration
XID = "[ 4242.000001] NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the bus.\n"
# Families that exist only where NVML finds a GPU (none here): their names are checked against the
# exporter's code path in tests/unit/test_node_exporter.py instead.
GPU_ONLY = re.compile(r"^argus_node_gpu_(utilization_ratio|memory_used_bytes|memory_total_bytes|"
                      r"temperature_celsius|power_watts|up|ecc_errors_total)$")


def argus(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "argus.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def families(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
    return names


@pytest.fixture
def cluster(tmp_path: Path):
    state = tmp_path / "up"
    env = {**os.environ, "ARGUS_SHARED_PATHS": json.dumps([str(EXAMPLES)]), "ARGUS_WORKER_DRAIN_SECONDS": "20",
           "ARGUS_TICK_SECONDS": "0.5", "ARGUS_METRICS_AUDIT_VERIFY_SECONDS": "5"}
    env.pop("ARGUS_TOKEN", None)
    up = argus("up", "--workers", "2", "--gpus-per-worker", "2", "--state-dir", str(state), "--timeout", "180",
               env=env, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        record = json.loads((state / "up.json").read_text())
        yield state, record, env
    finally:
        argus("down", "--state-dir", str(state), env=env, timeout=120)


@pytest.fixture
def prometheus(tmp_path: Path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus missing: `make promtool` installs Debian's prometheus package")
    port = free_port()
    conf = tmp_path / "prom"
    conf.mkdir()

    def start(targets: dict[str, list[str]]) -> str:
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": job, "static_configs": [{"targets": t}]}
                                     for job, t in targets.items()]}
        (conf / "prometheus.yml").write_text(yaml.safe_dump(config))
        proc = subprocess.Popen([binary, f"--config.file={conf / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={conf / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=1h"],
                                stdout=subprocess.DEVNULL, stderr=(conf / "log").open("w"), start_new_session=True)
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    procs: list[subprocess.Popen] = []
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


def query(url: str, expr: str) -> list[dict]:
    return httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()["data"]["result"]


def test_prometheus_scrapes_server_and_agents_and_an_xid_drains_a_node(cluster, prometheus) -> None:
    state, record, env = cluster
    server, ports = record["server"], record["metrics"]
    token = Path(record["token_file"]).read_text().strip()
    client = ArgusClient(server, token=token)
    task = client.submit({"kind": "custom", "name": "drained", "code": str(EXAMPLES / "tiny_train"),
                          "command": ["python", "train.py", "--steps", "100000", "--sleep", "0.02", "--save-freq", "25"],
                          "retry": {"max_attempts": 1},
                          "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "2(H100)"}})
    wait_status(client, task["id"], "RUNNING", timeout=120)
    url = prometheus({"argus-server": [server.removeprefix("http://")],
                      "argus-workers": [f"127.0.0.1:{p}" for p in ports.values()]})

    def up_series() -> list[dict]:
        try:
            return [r for r in query(url, "up") if r["value"][1] == "1"]
        except httpx.HTTPError:
            return []
    deadline = time.monotonic() + 60
    while len(up_series()) < 3 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(up_series()) == 3, "Prometheus did not scrape the server and both agents"
    scraped = families(httpx.get(f"{server}/metrics").text)
    for port in ports.values():
        scraped |= families(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    missing = sorted(n for n in metric_names() if n not in scraped and not GPU_ONLY.match(n))
    assert missing == [], f"dashboards or rules name metrics nothing exports: {missing}"
    stored = set(httpx.get(f"{url}/api/v1/label/__name__/values", timeout=10).json()["data"])
    assert {"argus_tasks", "argus_nodes", "argus_node_quarantined",
            "argus_shared_fs_probe_seconds", "argus_task_node_gpus", "argus_scheduler_tick_seconds_bucket"} <= stored

    (holder,) = [r["metric"]["node"] for r in query(url, f'argus_task_node_gpus{{task="{task["id"]}"}}')]
    worker = next(w for w in ports if holder.endswith(w))
    written = time.monotonic()
    with (state / worker / "kern.log").open("a") as handle:
        handle.write(XID)
    wait_for(client, task["id"], lambda _t: any(
        n["name"] == holder and n["state"] in ("draining", "quarantined") for n in client.nodes()["items"]),
        timeout=10, what="the node quarantined")
    assert time.monotonic() - written < 10
    row = next(n for n in client.nodes()["items"] if n["name"] == holder)
    assert row["quarantine_reason"] == "Xid 79 on GPU 0000:3b:00 (GPU has fallen off the bus)"
    moved = wait_for(client, task["id"], lambda t: t["status"] == "RUNNING" and t["attempts"] == 2, timeout=120,
                     what="running again")
    assert moved["preemptions"] == 1 and moved["status"] == "RUNNING", moved  # max_attempts 1: not spent
    events = client.events(task["id"])
    assert any("Xid 79 on GPU 0000:3b:00" in e["reason"] for e in events if e["to"] == "PREEMPTING")
    now_on = [r["metric"]["node"] for r in query(url, f'argus_task_node_gpus{{task="{task["id"]}"}}')]
    deadline = time.monotonic() + 10
    while now_on in ([holder], []) and time.monotonic() < deadline:
        time.sleep(1)
        now_on = [r["metric"]["node"] for r in query(url, f'argus_task_node_gpus{{task="{task["id"]}"}}')]
    assert now_on and holder not in now_on
    xids = query(url, 'argus_node_gpu_xid_errors_total{gpu="0000:3b:00", xid="79"}')
    assert [r["value"][1] for r in xids] == ["1"]
    assert query(url, f'argus_node_quarantined{{node="{holder}"}}')[0]["value"][1] == "1"
    released = argus("node", "release", holder, env={**env, "ARGUS_SERVER": server,
                                                      "ARGUS_TOKEN": token}, timeout=60)
    assert released.returncode == 0, released.stderr
    wait_for(client, task["id"], lambda _t: any(n["name"] == holder and n["state"] in ("ready", "joining")
                                                for n in client.nodes()["items"]), timeout=30, what="released")
    client.cancel(task["id"])
    wait_status(client, task["id"], "CANCELLED", timeout=60)
    client.close()
