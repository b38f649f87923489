"""Ended tasks as a long-running installation leaves them, bulk-inserted (for tests and benches
that need a large history fast): each with its attempt, four events, one in ten preempted once;
consistent with the migrations' schema (no audit entries: the chain is built one by one)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert

from argus.db.engine import Database
from argus.db.models import Attempt, Event, Preemption, Task

TEAMS = ("red", "blue", "green")
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def insert_ended(db: Database, count: int, checkpoint_root: Path, spec: dict) -> float:
    """``count`` ended tasks with ids 1 … count (into an empty tasks table), finished over the
    last week, of three teams and twenty owners; the seconds it took."""
    started = time.perf_counter()
    now = time.time()
    tasks, attempts, events, preemptions = [], [], [], []
    for i in range(1, count + 1):
        status = ENDED[i % 3]
        t0 = now - 7 * 86400 + i * (6 * 86400 / max(count, 1))
        tasks.append({"id": i, "name": f"done-{i}", "kind": "custom", "priority": "batch",
                      "team": TEAMS[i % 3], "owner": f"user{i % 20}", "status": status, "reason": status.lower(),
                      "spec": spec, "spec_text": "", "argv": ["python", "train.py"],
                      "checkpoint_dir": str(checkpoint_root / str(i)), "nodes": 1, "gpus_per_node": 1.0,
                      "cpus_per_node": 1.0, "gpu_model": None, "attempts": 1, "max_attempts": 3,
                      "preemptions": int(i % 10 == 0), "latest_step": None,
                      "exit_code": 0 if status == "SUCCEEDED" else 1, "termination": None, "pinned": False,
                      "created_at": t0, "updated_at": t0 + 3600, "queued_at": t0, "started_at": t0 + 60,
                      "finished_at": t0 + 3600})
        attempts.append({"task_id": i, "number": 1, "submission_id": f"argus-bench-{i}-1", "status": status,
                         "placement": ["w1"], "ray_address": "http://fake-ray:8265", "cluster_epoch": 1,
                         "message": "", "exit_code": 0, "created_at": t0 + 1, "submitted_at": t0 + 2,
                         "started_at": t0 + 60, "ended_at": t0 + 3600})
        for n, (src, dst) in enumerate(((None, "QUEUED"), ("QUEUED", "SUBMITTING"),
                                        ("SUBMITTING", "SUBMITTED"), ("RUNNING", status))):
            events.append({"task_id": i, "attempt": 1, "ts": t0 + n, "from_status": src, "to_status": dst,
                           "reason": "", "actor": "system"})
        if i % 10 == 0 and i > 1:
            preemptions.append({"ts": t0 + 1800, "victim_task_id": i, "victim_attempt": 1,
                                "preemptor_task_id": i - 1, "reason": "bench"})
    with db.write() as session:
        for model, rows in ((Task, tasks), (Attempt, attempts), (Event, events), (Preemption, preemptions)):
            for chunk in range(0, len(rows), 5000):
                session.execute(insert(model), rows[chunk:chunk + 5000])
    return time.perf_counter() - started
