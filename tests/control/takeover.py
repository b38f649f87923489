"""Two schedulers on one database, the lease holder killed mid-run: the shared check.

Used by the SQLite and PostgreSQL tests. Ray is the fake of tests/fakeray.py, made thread-safe
and watching capacity: every job it starts is counted, and at every submit the GPUs of the jobs
still running must fit the cluster."""

from __future__ import annotations

import threading
import time
from collections import Counter

from argus.control.loop import Scheduler
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import Attempt, Task
from argus.errors import JobAlreadyExists
from argus.ray_adapter import NodeInfo
from argus.services import tasks as task_service
from argus.services.policy import seed_policy
from argus.settings import Settings
from taskspec import load_spec_data
from tests.fakeray import FakeProvider, FakeRay

GPUS_PER_TASK = 4
NODES = [NodeInfo(f"w{i}", True, False, f"10.0.0.{i}", {"CPU": 8, "GPU": 8, "argus_worker": 1000,
                                                         "accelerator_type:H100": 1}) for i in (1, 2)]
CAPACITY = sum(n.resources["GPU"] for n in NODES)


class CountingRay(FakeRay):
    def __init__(self) -> None:
        super().__init__(node_list=list(NODES))
        self.lock = threading.Lock()
        self.started: Counter = Counter()  # submission id -> jobs Ray started for it
        self.peak_gpus = 0.0

    def nodes(self) -> list[NodeInfo]:
        time.sleep(0.01)  # a real round trip: schedulers' ticks overlap as they would
        return super().nodes()

    def submit(self, req) -> None:  # noqa: ANN001
        time.sleep(0.03)
        with self.lock:
            if req.submission_id in self.jobs:
                raise JobAlreadyExists("exists")
            running = sum(1 for s in self.jobs.values() if s == "RUNNING")
            self.peak_gpus = max(self.peak_gpus, (running + 1) * GPUS_PER_TASK)
            self.jobs[req.submission_id] = "RUNNING"
            self.requests[req.submission_id] = req
            self.started[req.submission_id] += 1

    def finish_oldest(self) -> None:
        with self.lock:
            sid = next((s for s, state in self.jobs.items() if state == "RUNNING"), None)
            if sid is not None:
                self.jobs[sid] = "SUCCEEDED"
                self.endings[sid] = (0, "")


def make_settings(tmp_path, url: str) -> Settings:  # noqa: ANN001
    return Settings(state_dir=tmp_path / "state", shared_root=tmp_path / "shared", db_url=url,
                    tick_seconds=0.05, scheduler_lease_seconds=1.5, transient_backoff_max_s=0.2,
                    rebalance_period_seconds=0)


def queue_tasks(db: Database, settings: Settings, code: str, n: int) -> list[int]:
    spec = load_spec_data({"kind": "custom", "name": "t", "code": code, "command": ["python", "x.py"],
                           "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": f"{GPUS_PER_TASK}(H100)"}},
                          source="test")
    return [task_service.create_task(db, settings, spec, owner="alice")["id"] for _ in range(n)]


def crash(scheduler: Scheduler) -> None:
    """What kill -9 leaves: the loop and the renewer stop, the lease is not released."""
    scheduler._stop.set()
    scheduler.renewer.stop()
    if scheduler._thread is not None:
        scheduler._thread.join(10)


def run_takeover(tmp_path, url: str, n_tasks: int = 12) -> dict:  # noqa: ANN001
    """Schedulers A and B, each with its own engine; A leads, is killed mid-run, B finishes."""
    settings = make_settings(tmp_path, url)
    db_a, db_b, db_test = Database(url), Database(url), Database(url)
    upgrade(db_test)
    seed_policy(db_test, settings)
    code = settings.shared_root / "users" / "alice" / "code"  # inside alice's allowed roots
    code.mkdir(parents=True)
    ids = queue_tasks(db_test, settings, str(code), n_tasks)
    ray = CountingRay()
    a = Scheduler(db_a, settings, FakeProvider(ray))
    b = Scheduler(db_b, settings, FakeProvider(ray))
    stop_finishing = threading.Event()
    try:
        return _race(a, b, ray, db_test, ids, stop_finishing, settings)
    finally:
        stop_finishing.set()
        crash(a)
        crash(b)
        for db in (db_a, db_b, db_test):
            db.dispose()


def _race(a: Scheduler, b: Scheduler, ray: CountingRay, db_test: Database, ids: list[int],  # noqa: PLR0913
          stop_finishing: threading.Event, settings: Settings) -> dict:
    a.start()
    _wait(lambda: a.role == "leader", 10)
    b.start()

    def finisher() -> None:  # Ray's jobs end one by one
        while not stop_finishing.wait(0.15):
            ray.finish_oldest()

    threading.Thread(target=finisher, daemon=True).start()
    _wait(lambda: _ended(db_test, ids) >= 3, 60)
    assert b.role == "standby"
    killed_at = time.monotonic()
    crash(a)
    _wait(lambda: b.role == "leader", 30)
    takeover_s = time.monotonic() - killed_at
    _wait(lambda: _ended(db_test, ids) == len(ids), 120)
    stop_finishing.set()
    b.stop()
    with db_test.read() as s:
        attempts = Counter(a.task_id for a in s.query(Attempt).all())
        statuses = Counter(t.status for t in s.query(Task).filter(Task.id.in_(ids)))
    return {"ray": ray, "attempts": attempts, "statuses": statuses, "takeover_s": takeover_s,
            "ids": ids, "lease_s": settings.scheduler_lease_seconds}


def check_takeover(result: dict) -> None:
    ray, ids = result["ray"], result["ids"]
    assert result["statuses"] == Counter({"SUCCEEDED": len(ids)})
    assert all(result["attempts"][i] == 1 for i in ids)  # nothing admitted twice
    assert len(ray.started) == len(ids) and set(ray.started.values()) == {1}  # one Ray job each
    assert ray.peak_gpus <= CAPACITY  # never double-booked
    assert result["takeover_s"] < result["lease_s"] + 3


def _ended(db: Database, ids: list[int]) -> int:
    with db.read() as s:
        failed = s.query(Task).filter(Task.id.in_(ids), Task.status == "FAILED").first()
        assert failed is None, f"task {failed.id} failed: {failed.reason}"
        return s.query(Task).filter(Task.id.in_(ids), Task.status == "SUCCEEDED").count()


def _wait(cond, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.05)
