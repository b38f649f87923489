"""A scheduler tick's database work does not grow with the number of ended tasks (issue 11).

Two real SQLite files with the same live load (two tasks running on the fake cluster, four
queued), one of them also holding 3,000 ended tasks with their attempts, events and preemptions
(tests/history.py). The work SQLite does for a tick is counted in virtual-machine steps (a
progress handler: rows visited, index entries compared), which, unlike time, is the same on every
run: a statement that scanned ended tasks (a missing index, a history read) would add thousands.
Checked for a steady tick and for a tick in which a job ends and the next task is admitted
(transitions, events, the audit chain, a claim). bench/tick_scale.py measures the time.

Also: the waiting tasks' reasons are written in one transaction per tick, however many wait."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select

from argus.control.loop import Scheduler
from argus.db.models import Task
from argus.errors import RayUnavailable
from argus.services import tasks as task_service
from taskspec import load_spec_data
from tests.api.conftest import build_world
from tests.fakeray import FakeProvider, FakeRay
from tests.history import insert_ended

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = {"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"), "command": ["python", "train.py"],
        "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": 4}}


def _loaded(root: Path, ended: int, queued: int = 4) -> tuple[Scheduler, FakeRay]:
    settings, db, _ = build_world(root)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES]})
    insert_ended(db, ended, settings.checkpoint_root, SPEC)
    spec = load_spec_data(SPEC, source="t")
    for _ in range(2 + queued):  # 8 GPUs: two run, the others wait
        task_service.create_task(db, settings, spec, owner="alice", team="red")
    ray = FakeRay()
    scheduler = Scheduler(db, settings, FakeProvider(ray))
    for _ in range(3):  # admit, see RUNNING; the first tick also runs the hourly event compaction
        scheduler.tick()
    assert sorted(ray.jobs.values()) == ["RUNNING", "RUNNING"]
    return scheduler, ray


def _steps(scheduler: Scheduler) -> int:
    """Virtual-machine steps SQLite runs for one tick, on every connection it uses."""
    count = [0]
    watched = set()

    def tally() -> int:
        count[0] += 1
        return 0

    def watch(_conn, cursor, *_args) -> None:  # noqa: ANN001
        if cursor.connection not in watched:
            watched.add(cursor.connection)
            cursor.connection.set_progress_handler(tally, 1)

    engines = {scheduler.db.read_engine, scheduler.db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", watch)
    try:
        scheduler.tick()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", watch)
        for connection in watched:
            connection.set_progress_handler(None, 1)
    return count[0]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[int, tuple[Scheduler, FakeRay]]:  # noqa: ANN001
    return {n: _loaded(tmp_path_factory.mktemp(f"ended{n}"), n) for n in (0, 3000)}


def test_a_steady_tick_does_the_same_work_with_3000_ended_tasks(worlds):
    (none, _), (many, _) = worlds[0], worlds[3000]
    small, large = _steps(none), _steps(many)
    assert small > 500, "nothing was counted: the test would prove nothing"
    assert large <= small * 1.1, (small, large)


def test_a_tick_that_ends_a_job_and_admits_the_next_does_the_same_work(worlds):
    counts = []
    for n in (0, 3000):
        scheduler, ray = worlds[n]
        running = sorted(sid for sid, state in ray.jobs.items() if state == "RUNNING")
        ray.end(running[0], "SUCCEEDED", 0)
        counts.append(_steps(scheduler))
        assert sum(1 for s in ray.jobs.values() if s == "RUNNING") == 2, "the next task was not admitted"
    small, large = counts
    assert large <= small * 1.1, (small, large)


def _write_transactions(scheduler: Scheduler) -> int:
    begun = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.startswith("BEGIN IMMEDIATE"):
            begun.append(statement)

    event.listen(scheduler.db.write_engine, "before_cursor_execute", seen)
    try:
        scheduler.tick()
    finally:
        event.remove(scheduler.db.write_engine, "before_cursor_execute", seen)
    return len(begun)


def test_wait_reasons_are_written_in_one_transaction_however_many_wait(tmp_path):
    few, _ = _loaded(tmp_path / "few", 0, queued=2)
    many, ray = _loaded(tmp_path / "many", 0, queued=30)
    assert _write_transactions(few) == _write_transactions(many)
    with many.db.read() as session:
        reasons = session.scalars(select(Task.reason).where(Task.status == "QUEUED")).all()
    assert len(reasons) == 30 and all(r and r != "queued" for r in reasons), set(reasons)  # the planner's why
    ray.failures["list_jobs"] = [RayUnavailable("connection refused")]
    ray.failures["nodes"] = [RayUnavailable("connection refused")]
    many.tick()
    with many.db.read() as session:
        reasons = set(session.scalars(select(Task.reason).where(Task.status == "QUEUED")))
    assert len(reasons) == 1 and "Ray" in reasons.pop()
