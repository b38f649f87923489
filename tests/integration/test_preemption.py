"""Preemption that keeps progress, on a real Ray cluster with logical GPUs (2 nodes × 4 H100)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from argus.client import ArgusClient
from argus.cluster import StaticCluster
from argus.settings import Settings
from tests.conftest import ServerThread, admin_app
from tests.integration.conftest import EXAMPLES, wait_all_terminal, wait_for, wait_status

pytestmark = pytest.mark.integration
GRACE = 10
STEPS, SAVE_FREQ = 300, 10


@pytest.fixture(scope="module")
def sched_env(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("argus-preempt")
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", tick_seconds=0.3,
                        stop_wait_seconds=GRACE, ray_address=local_ray.dashboard_url,
                        min_runtime_seconds=1, preempt_cooldown_seconds=1, shared_paths=[EXAMPLES])
    app, token = admin_app(settings, StaticCluster(local_ray.dashboard_url))
    with ServerThread(app) as server:
        client = ArgusClient(server.url, token=token)
        yield client
        for task in client.list(limit=500)["items"]:
            if task["status"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
                client.cancel(task["id"])
        wait_all_terminal(client)
        client.close()


def train(name: str, priority: str, steps: int, sleep: float) -> dict:
    return {"kind": "custom", "name": name, "priority": priority, "code": str(EXAMPLES / "tiny_train"),
            "command": ["python", "train.py", "--steps", str(steps), "--sleep", str(sleep)],
            "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "4(H100)"},
            "checkpoint": {"save_freq": SAVE_FREQ}, "retry": {"max_attempts": 5}}


def test_realtime_preempts_batch_which_resumes_from_its_checkpoint(sched_env):
    client = sched_env
    batch = [client.submit(train(f"batch-{i}", "batch", STEPS, 0.1)) for i in range(2)]
    for task in batch:
        wait_for(client, task["id"], lambda t: (t["latest_step"] or 0) >= 2 * SAVE_FREQ,
                 timeout=180, what="two checkpoints")
    extra = client.submit(train("batch-waits", "batch", 20, 0.05))
    time.sleep(1.5)
    assert client.get(extra["id"])["status"] == "QUEUED"  # the cluster is full

    submitted = time.monotonic()
    rt = client.submit(train("risk-model", "realtime", 30, 0.05))
    wait_status(client, rt["id"], "RUNNING", "SUCCEEDED", timeout=GRACE + 30)
    to_running = time.monotonic() - submitted
    assert to_running < GRACE + 15, f"realtime took {to_running:.1f}s to run"

    victims = [t for t in (client.get(b["id"]) for b in batch) if t["preemptions"] >= 1]
    assert len(victims) == 1, "exactly one batch task makes room"
    victim = victims[0]
    events = client.events(victim["id"])
    preempting = [e for e in events if e["to"] == "PREEMPTING"]
    assert preempting and f"task {rt['id']}" in preempting[0]["reason"]
    assert any(e["to"] == "QUEUED" and e["from"] == "PREEMPTING" for e in events)
    saved_at_stop = victim["latest_step"]  # the step its SIGTERM handler saved

    for task in [*batch, rt, extra]:
        done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=300)
        assert done["status"] == "SUCCEEDED", done
    victim = client.get(victim["id"])
    assert victim["attempts"] == 2 and victim["preemptions"] == 1
    final = json.loads((Path(victim["checkpoint_dir"]) / "final.json").read_text())
    assert final["final_step"] == STEPS
    assert len(final["resumed_from"]) == 1 and final["resumed_from"][0] >= 2 * SAVE_FREQ
    assert final["resumed_from"][0] >= saved_at_stop - SAVE_FREQ  # at most one save interval lost
    print(f"realtime RUNNING {to_running:.1f}s after submit; victim resumed from step "
          f"{final['resumed_from'][0]}")
