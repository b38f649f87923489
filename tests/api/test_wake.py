"""Admission without waiting for a tick: a submit or a cancel wakes the embedded loop.

The loop's tick is 60 s here, so only the wake can explain a task that leaves QUEUED within a
few seconds (the scheduler loop against a real SQLite file and HTTP; Ray faked at its boundary).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from argus.control.loop import FOLLOW_UP_S, Scheduler
from tests.conftest import ServerThread, admin_app
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _wait_status(client: httpx.Client, task_id: int, wanted: set[str], limit: float) -> tuple[str, float]:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        status = client.get(f"/v1/tasks/{task_id}").json()["status"]
        if status in wanted:
            return status, time.monotonic() - start
        time.sleep(0.05)
    return status, time.monotonic() - start


def test_submit_and_cancel_wake_the_loop_instead_of_waiting_a_60_s_tick(settings):
    settings = settings.model_copy(update={"tick_seconds": 60.0, "shared_paths": [EXAMPLES]})
    ray = FakeRay()
    app, token = admin_app(settings, FakeProvider(ray), embed_scheduler=True)
    spec = {"kind": "custom", "name": "wake", "code": str(EXAMPLES / "tiny_train"),
            "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10,
                                                   headers={"Authorization": f"Bearer {token}"}) as client:
        time.sleep(0.5)  # the loop's first tick has run; the next is 60 s away
        task_id = client.post("/v1/tasks", json=spec).json()["id"]
        status, took = _wait_status(client, task_id, {"SUBMITTED", "RUNNING"}, 10)
        assert status in {"SUBMITTED", "RUNNING"} and took < 5, (status, took)
        client.post(f"/v1/tasks/{task_id}/cancel")
        status, took = _wait_status(client, task_id, {"CANCELLED"}, 10)
        assert status == "CANCELLED" and took < 5, (status, took)


def test_after_a_wake_the_loop_looks_again_soon_then_backs_off_to_the_tick(settings):
    scheduler = Scheduler.__new__(Scheduler)
    scheduler.settings = settings.model_copy(update={"tick_seconds": 1.0})
    delays = [scheduler.next_delay(1.0, True)]
    for _ in range(6):
        delays.append(scheduler.next_delay(delays[-1], False))
    assert delays[0] == FOLLOW_UP_S and delays == sorted(delays) and delays[-1] == 1.0
    assert scheduler.next_delay(1.0, False) == 1.0
