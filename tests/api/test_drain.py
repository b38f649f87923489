"""A quarantined node gets no new work and its tasks are requeued (the scheduler loop against a
real SQLite file; the agents' records on a real shared root; Ray faked at its boundary)."""

from __future__ import annotations

import time
from pathlib import Path

from argus import noderegistry
from argus.control.loop import Scheduler
from argus.db.models import Attempt
from argus.ray_adapter import NodeInfo
from argus.services import tasks as task_service
from taskspec import load_spec_data
from tests.api.conftest import build_world
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
XID = "Xid 79 on GPU 0000:3b:00 (GPU has fallen off the bus)"


def node(node_id: str, name: str) -> NodeInfo:
    return NodeInfo(node_id, True, False, "10.0.0.1", {"CPU": 4, "GPU": 4, "argus_worker": 1000,
                                                       "accelerator_type:H100": 1, f"argus_node:{name}": 1})


def test_xid_quarantine_requeues_the_task_elsewhere_without_spending_an_attempt(tmp_path: Path) -> None:
    settings, db, _ = build_world(tmp_path)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES]})
    ray = FakeRay(node_list=[node("n1" * 28, "w1")])
    scheduler = Scheduler(db, settings, FakeProvider(ray))
    spec = load_spec_data({"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
                           "command": ["python", "train.py"], "retry": {"max_attempts": 1},
                           "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "4(H100)"}}, source="t")
    task_id = task_service.create_task(db, settings, spec, owner="alice", team="red")["id"]
    scheduler.tick()
    scheduler.tick()
    assert task_service.get(db, task_id)["status"] == "RUNNING"
    noderegistry.publish(settings.shared_root, {"name": "w1", "quarantined": True, "quarantine_reason": XID,
                                                "heartbeat_at": time.time()})
    scheduler.admitter.quarantines.ttl = 0
    scheduler.tick()
    task = task_service.get(db, task_id)
    assert task["status"] == "PREEMPTING" and task["reason"].startswith(f"node w1 quarantined: {XID}")
    scheduler.tick()  # the loop stops the Ray job (with the task's grace) and sees it STOPPED
    scheduler.tick()
    task = task_service.get(db, task_id)
    assert task["status"] == "QUEUED" and task["preemptions"] == 1
    scheduler.tick()
    assert task_service.get(db, task_id)["status"] == "QUEUED"  # the only node is quarantined
    ray.node_list.append(node("n2" * 28, "w2"))
    scheduler.tick()
    scheduler.tick()
    task = task_service.get(db, task_id)
    assert task["status"] == "RUNNING" and task["attempts"] == 2  # max_attempts 1: not spent
    with db.read() as session:
        placement = session.query(Attempt).filter(Attempt.task_id == task_id, Attempt.number == 2).one().placement
    assert placement == ["n2" * 28]
    sid = task_service.get(db, task_id)["submission_id"]
    assert ray.requests[sid].entrypoint_resources["argus_node:w2"] == 0.001  # Ray starts it there
    reasons = [e["reason"] for e in task_service.events(db, task_id)]
    assert any(XID in r for r in reasons)
