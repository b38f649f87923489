"""Latencies a user feels, on real Ray: admission on an idle cluster, realtime on a full one, reclaim.

1. **Admission**: a tiny task (``python -c pass``) on an idle cluster, submit → SUCCEEDED, through
   Argus (scheduler loop embedded, default 1 s tick) beside the same entrypoint as a raw Ray job
   (``JobSubmissionClient``); median of N, side by side.
2. **Realtime on a full cluster**: a batch task holds every GPU (it started a moment ago, well
   within the minimum runtime); a realtime task is submitted; submit → RUNNING.
3. **Reclaim**: team ``borrower`` (nominal 0) runs a batch task on the 4 GPUs that are team
   ``lender``'s nominal quota; ``lender`` submits a batch task; submit → RUNNING.

Victims exit on SIGTERM (a Python process's default), so the goal for 2 and 3 is the victim's
grace + 5 s. Starts a local Ray head and one worker with 4 logical GPUs.

    .venv/bin/python bench/latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.job_submission import JobStatus, JobSubmissionClient  # noqa: E402

from argus.client import ArgusClient  # noqa: E402
from argus.cluster import StaticCluster  # noqa: E402
from argus.settings import Settings  # noqa: E402
from tests.conftest import ServerThread, admin_app  # noqa: E402
from tests.localray import start_local_ray  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GRACE = 10
TEAMS = {"lender": {"quota": {"H100": {"nominal": 4}}}, "borrower": {"quota": {"H100": {"nominal": 0}}}}


def task(name: str, priority: str, command: list[str], gpus: int = 0) -> dict:
    return {"kind": "custom", "name": name, "priority": priority, "code": str(EXAMPLES / "tiny_train"),
            "command": command, "retry": {"max_attempts": 3},
            "resources": {"nodes": 1, "cpus": 1, **({"gpus_per_node": f"{gpus}(H100)"} if gpus else {})}}


SLEEPER = ["python", "-c", "import time; time.sleep(600)"]


def wait(client: ArgusClient, task_id: int, statuses: set[str], limit: float = 120) -> float:
    """Seconds until the task is in one of ``statuses`` (polled every 20 ms)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if client.get(task_id)["status"] in statuses:
            return time.perf_counter() - start
        time.sleep(0.02)
    raise SystemExit(f"task {task_id} not {statuses} after {limit:.0f} s: {client.get(task_id)['reason']}")


def ray_tiny(ray_url: str) -> float:
    client = JobSubmissionClient(ray_url)
    start = time.perf_counter()
    sid = client.submit_job(entrypoint="python -c pass", submission_id=f"bench-{uuid.uuid4().hex[:10]}",
                            entrypoint_resources={"argus_worker": 0.001})
    while client.get_job_status(sid) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        time.sleep(0.02)
    return time.perf_counter() - start


def argus_tiny(client: ArgusClient) -> float:
    start = time.perf_counter()
    task_id = client.submit(task("tiny", "online", ["python", "-c", "pass"]))["id"]
    wait(client, task_id, {"SUCCEEDED"})
    return time.perf_counter() - start


def realtime_on_full(admin: ArgusClient) -> float:
    victim = admin.submit(task("victim", "batch", SLEEPER, gpus=4))["id"]
    wait(admin, victim, {"RUNNING"})
    start = time.perf_counter()
    rt = admin.submit(task("risk", "realtime", SLEEPER, gpus=4))["id"]
    wait(admin, rt, {"RUNNING"})
    took = time.perf_counter() - start
    for task_id in (rt, victim):
        admin.cancel(task_id)
    wait(admin, victim, {"CANCELLED"}), wait(admin, rt, {"CANCELLED"})
    return took


def reclaim(lender: ArgusClient, borrower: ArgusClient) -> float:
    victim = borrower.submit(task("borrowed", "batch", SLEEPER, gpus=4))["id"]
    wait(borrower, victim, {"RUNNING"})
    start = time.perf_counter()
    own = lender.submit(task("own-quota", "batch", SLEEPER, gpus=4))["id"]
    wait(lender, own, {"RUNNING"})
    took = time.perf_counter() - start
    lender.cancel(own), borrower.cancel(victim)
    wait(lender, own, {"CANCELLED"}), wait(borrower, victim, {"CANCELLED"})
    return took


def member(admin: ArgusClient, team: str, url: str) -> ArgusClient:
    admin.create_team(team)
    admin.create_user(f"{team}-user", team=team, role="user")
    return ArgusClient(url, token=admin.create_token(f"{team}-user")["token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ray = start_local_ray([{"cpus": 4, "gpus": 4, "model": "H100"}])
    root = Path(tempfile.mkdtemp(prefix="argus-bench-latency-"))
    rows = []
    try:
        settings = Settings(state_dir=root / "state", shared_root=root / "shared", ray_address=ray.dashboard_url,
                            stop_wait_seconds=GRACE, shared_paths=[EXAMPLES], teams=TEAMS)
        app, token = admin_app(settings, StaticCluster(ray.dashboard_url))
        with ServerThread(app) as server:
            admin = ArgusClient(server.url, token=token)
            ray_tiny(ray.dashboard_url), argus_tiny(admin)  # warm both paths once
            raw = [ray_tiny(ray.dashboard_url) for _ in range(args.runs)]
            via = [argus_tiny(admin) for _ in range(args.runs)]
            rows.append(("tiny task submit → SUCCEEDED", statistics.median(via), statistics.median(raw),
                         "≤ 1.2× raw Ray"))
            rt = [realtime_on_full(admin) for _ in range(args.runs)]
            rows.append(("realtime on a full cluster → RUNNING", statistics.median(rt), max(rt),
                         f"≤ grace + 5 = {GRACE + 5} s"))
            lender, borrower = member(admin, "lender", server.url), member(admin, "borrower", server.url)
            back = [reclaim(lender, borrower) for _ in range(args.runs)]
            rows.append(("reclaim of own quota → RUNNING", statistics.median(back), max(back),
                         f"≤ grace + 5 = {GRACE + 5} s"))
    finally:
        ray.stop()
        shutil.rmtree(ray.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.runs} runs each, seconds (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    name, argus_s, ray_s, goal = rows[0]
    print(f"{'':40}{'argus':>9}{'raw ray':>9}{'ratio':>8}  goal")
    print(f"{name:40}{argus_s:9.2f}{ray_s:9.2f}{argus_s / ray_s:8.2f}  {goal}")
    print(f"\n{'':40}{'median':>9}{'max':>9}          goal")
    for name, median, worst, goal in rows[1:]:
        print(f"{name:40}{median:9.2f}{worst:9.2f}          {goal}")


if __name__ == "__main__":
    main()
