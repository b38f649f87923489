"""A list page costs the same few queries whatever its length (no query per row), and shows each
task's current attempt (real SQLite file; the scheduler loop against Ray faked at its boundary)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from argus.control.loop import Scheduler
from argus.services import tasks as task_service
from taskspec import load_spec_data
from tests.api.conftest import build_world
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _statements(db, action) -> int:  # noqa: ANN001
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.read_engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(db.read_engine, "before_cursor_execute", count)
    return len(seen)


def test_list_queries_do_not_grow_with_the_page_and_show_current_attempts(tmp_path: Path) -> None:
    settings, db, _ = build_world(tmp_path)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES]})
    scheduler = Scheduler(db, settings, FakeProvider(FakeRay()))
    spec = load_spec_data({"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
                           "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}},
                          source="t")
    ids = [task_service.create_task(db, settings, spec, owner="alice", team="red")["id"] for _ in range(6)]
    scheduler.tick()
    scheduler.tick()
    listed = {t["id"]: t for t in task_service.list_tasks(db, limit=50)["items"]}
    started = [i for i in ids if listed[i]["attempts"]]
    assert ids[0] in started, "the fake cluster did not admit the oldest task"
    for task_id in ids:
        one = task_service.get(db, task_id)
        assert listed[task_id]["submission_id"] == one["submission_id"]
        assert listed[task_id]["status"] == one["status"]
    small = _statements(db, lambda: task_service.list_tasks(db, limit=1, offset=len(ids) - 1))  # the oldest
    large = _statements(db, lambda: task_service.list_tasks(db, limit=50))
    keyset = _statements(db, lambda: task_service.list_tasks(db, limit=50, after=ids[-1]))
    assert large == small == keyset, (small, large, keyset)
