"""Typed failures on a real Ray cluster (logical GPUs): infrastructure failures are retried from the
checkpoint, user errors are not, timeout_minutes ends a run, and a job whose placement groups
cannot be placed says so and is requeued after ARGUS_PLACEMENT_TIMEOUT_S."""

from __future__ import annotations

import sys

import pytest

from argus.client import ArgusClient
from argus.cluster import StaticCluster
from argus.ray_adapter import RayCluster
from argus.settings import Settings
from argus.states import is_terminal
from tests.conftest import ServerThread, admin_app
from tests.integration.conftest import EXAMPLES, wait_all_terminal, wait_for, wait_status

pytestmark = pytest.mark.integration

NCCL_LINE = ("[rank0]:[E1201 05:10:02.408271257 ProcessGroupNCCL.cpp:607] [Rank 0] Watchdog caught collective "
             "operation timeout: WorkNCCL(SeqNum=1580, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
             "Timeout(ms)=600000) ran for 600060 milliseconds before timing out.")
# Attempt 1 trains to step 30 (checkpoints every 10), then dies the way a rank does when NCCL's
# watchdog fires; attempt 2 finds the checkpoint, resumes and finishes.
NCCL_DRIVER = f"""
import os, subprocess, sys
first = not os.path.exists(os.path.join(os.environ["ARGUS_CHECKPOINT_DIR"], "latest_checkpointed_iteration.txt"))
rc = subprocess.call([sys.executable, "train.py", "--steps", "30" if first else "60", "--sleep", "0.02",
                      "--save-freq", "10"])
if first:
    print({NCCL_LINE!r}, file=sys.stderr, flush=True)
    print("RuntimeError: NCCL communicator was aborted on rank 0.", file=sys.stderr, flush=True)
    sys.exit(1)
sys.exit(rc)
"""
# What verl does before it trains: a placement group of GPU bundles, then wait (it never times out).
GREEDY_DRIVER = """
import ray
from ray.util.placement_group import placement_group
ray.init()
group = placement_group([{"GPU": 1, "CPU": 0.01}] * 16)
print("waiting for 16 GPUs", flush=True)
ray.get(group.ready())
"""


@pytest.fixture(scope="module")
def failures_env(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("failures")
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", tick_seconds=0.3,
                        stop_wait_seconds=5, ray_address=local_ray.dashboard_url, shared_paths=[EXAMPLES],
                        placement_timeout_s=8)
    app, token = admin_app(settings, StaticCluster(local_ray.dashboard_url))
    with ServerThread(app) as server:
        client = ArgusClient(server.url, token=token)
        yield client
        for task in client.list(limit=500)["items"]:
            if not is_terminal(task["status"]):
                client.cancel(task["id"])
        wait_all_terminal(client)
        client.close()


def custom(name: str, command: list[str], **extra) -> dict:  # noqa: ANN003
    spec = {"kind": "custom", "name": name, "priority": "online", "code": str(EXAMPLES / "tiny_train"),
            "command": command, "resources": {"nodes": 1, "cpus": 1}, "checkpoint": {"save_freq": 10},
            "retry": {"max_attempts": 3}}
    return {**spec, **extra}


def test_an_nccl_timeout_is_retried_and_resumes_from_the_checkpoint(failures_env):
    client = failures_env
    task = client.submit(custom("nccl-flake", ["python", "-c", NCCL_DRIVER]))
    done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=240)
    assert done["status"] == "SUCCEEDED", done
    assert done["attempts"] == 2 and done["latest_step"] == 60
    first = done["attempt_history"][0]
    assert first["status"] == "FAILED" and first["termination"] == "NCCL_TIMEOUT" and first["exit_code"] == 1
    requeue = next(e for e in client.events(task["id"]) if e["to"] == "QUEUED" and e["from"] == "LOST")
    assert "NCCL_TIMEOUT" in requeue["reason"] and "Watchdog caught collective operation timeout" in requeue["reason"]
    assert "resumed from step 30" in client.logs(task["id"], attempt=2)


def test_a_user_exception_is_failed_and_not_retried(failures_env):
    client = failures_env
    task = client.submit(custom("user-bug", ["python", "-c", "raise ValueError('reward key missing: acc')"]))
    done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=120)
    assert done["status"] == "FAILED" and done["termination"] == "USER_ERROR"
    assert done["attempts"] == 1 and done["exit_code"] == 1
    assert "ValueError: reward key missing: acc" in done["reason"]


def test_timeout_minutes_stops_the_run_and_fails_it(failures_env, local_ray):
    client = failures_env
    task = client.submit(custom("slow", ["python", "train.py", "--steps", "5000", "--sleep", "0.1"],
                                timeout_minutes=0.2))  # 12 s: time to import numpy and save a step on a busy host
    done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=120)
    assert done["status"] == "FAILED" and done["termination"] == "TIMED_OUT", done
    assert done["reason"].startswith("timed out after 0.2 min") and done["attempts"] == 1
    assert RayCluster(local_ray.dashboard_url).status(done["submission_id"]).status == "STOPPED"
    assert (done["latest_step"] or 0) > 0  # SIGTERM first: the run saved its step in its grace time


def test_a_job_asking_for_more_gpus_than_exist_is_shown_pending_then_requeued(failures_env):
    client = failures_env
    task = client.submit(custom("greedy", [sys.executable, "-c", GREEDY_DRIVER], retry={"max_attempts": 2}))
    pending = wait_for(client, task["id"], lambda t: "placement group pending" in (t["reason"] or ""),
                       timeout=120, what="the placement-pending reason")
    assert pending["status"] == "RUNNING"
    assert pending["reason"].startswith("the job waits for 16 GPUs: placement group pending")
    done = wait_status(client, task["id"], "FAILED", "SUCCEEDED", timeout=180)
    assert done["status"] == "FAILED" and done["termination"] == "PLACEMENT_TIMEOUT", done
    assert done["attempts"] == 2  # stopped and requeued once, then out of attempts
    assert [a["termination"] for a in done["attempt_history"]] == ["PLACEMENT_TIMEOUT", "PLACEMENT_TIMEOUT"]
    trail = [e["to"] for e in client.events(task["id"])]
    assert trail.count("QUEUED") == 2 and trail[-2:] == ["LOST", "FAILED"]
