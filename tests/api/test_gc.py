"""argus gc over real HTTP, a real SQLite file and real directories: what retention lets go,
a dry run that touches nothing, pinned and live tasks kept, the audit chain intact."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from argus.control.loop import Scheduler
from argus.db.models import Attempt, Event, Task
from argus.services import audit
from tests.api.conftest import World, serve
from tests.api.test_cli_identity import Cli
from tests.fakeray import FakeProvider, FakeRay

DAY = 86400.0


def _task(world: World, task_id: int, *, status: str, ended_days_ago: float | None, checkpoint: Path,
          pinned: bool = False, events: int = 3) -> None:
    now = time.time()
    finished = None if ended_days_ago is None else now - ended_days_ago * DAY
    with world.db.write() as session:
        session.add(Task(id=task_id, name=f"t{task_id}", kind="custom", priority="batch", team="red", owner="alice",
                         status=status, reason="", spec={}, spec_text="", checkpoint_dir=str(checkpoint), nodes=1,
                         gpus_per_node=0, cpus_per_node=1, created_at=now - 50 * DAY, updated_at=now,
                         queued_at=now - 50 * DAY, finished_at=finished, pinned=pinned))
        session.flush()
        session.add(Attempt(task_id=task_id, number=1, submission_id=f"argus-x-{task_id}-1", status=status,
                            created_at=now - 50 * DAY))
        for i in range(events):
            session.add(Event(task_id=task_id, ts=now - 50 * DAY + i, to_status="QUEUED" if i == 0 else status))
    checkpoint.mkdir(parents=True, exist_ok=True)
    (checkpoint / "model.bin").write_bytes(b"x" * 1000)
    world.settings.log_dir.mkdir(parents=True, exist_ok=True)
    (world.settings.log_dir / f"argus-x-{task_id}-1.log").write_text("log\n" * 25)


@pytest.fixture
def world(tmp_path: Path):
    yield from serve(tmp_path)


def test_gc_dry_run_then_apply(world: World, tmp_path: Path) -> None:
    root = world.settings.checkpoint_root
    _task(world, 1, status="SUCCEEDED", ended_days_ago=40, checkpoint=root / "1-old")
    _task(world, 2, status="FAILED", ended_days_ago=40, checkpoint=root / "2-pinned", pinned=True)
    _task(world, 3, status="SUCCEEDED", ended_days_ago=1, checkpoint=root / "3-recent")
    _task(world, 4, status="RUNNING", ended_days_ago=None, checkpoint=root / "4-live")
    _task(world, 5, status="CANCELLED", ended_days_ago=40, checkpoint=tmp_path / "elsewhere" / "5")  # not ours
    _task(world, 6, status="SUCCEEDED", ended_days_ago=100, checkpoint=root / "6-ancient", events=5)
    stale, fresh = root / "orphan-stale", root / "orphan-fresh"
    for orphan in (stale, fresh):
        orphan.mkdir()
        (orphan / "f").write_bytes(b"y" * 500)
    snaps = world.settings.shared_dir / "users" / "alice" / ".argus" / "snapshots"
    unused, running = snaps / ("a" * 64), snaps / ("b" * 64)
    for snap in (unused, running):
        snap.mkdir(parents=True)
        (snap / "train.py").write_bytes(b"z" * 200)
    with world.db.write() as session:
        session.get(Task, 4).spec = {"code": str(running)}  # the RUNNING task runs this snapshot
    old = time.time() - 40 * DAY
    for path in (stale, unused, running):
        os.utime(path, (old, old))
    dry = world.client("root").post("/v1/gc")
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    targets = {(i["kind"], Path(i["target"]).name if i["kind"] != "events" else i["target"]) for i in plan["items"]}
    assert targets == {("checkpoint", "1-old"), ("log", "argus-x-1-1.log"), ("checkpoint", "6-ancient"),
                       ("log", "argus-x-6-1.log"), ("orphan", "orphan-stale"), ("events", "task/6"),
                       ("log", "argus-x-5-1.log"),  # task 5's log is ours; its checkpoints are not
                       ("snapshot", "a" * 64)}
    assert plan["bytes"] == 1000 + 100 + 1000 + 100 + 500 + 100 + 200 and not plan["applied"]
    assert (root / "1-old").exists() and stale.exists()  # a dry run removes nothing
    assert world.client("alice").post("/v1/gc", params={"apply": "true"}).status_code == 403
    done = world.client("root").post("/v1/gc", params={"apply": "true"}).json()
    assert done["applied"] and done["bytes"] == plan["bytes"] and done["failed"] == []
    assert not (root / "1-old").exists() and not stale.exists() and not (root / "6-ancient").exists()
    assert all((root / d).exists() for d in ("2-pinned", "3-recent", "4-live", "orphan-fresh"))
    assert (tmp_path / "elsewhere" / "5").exists()
    assert not unused.exists() and running.exists()
    with world.db.read() as session:
        assert session.query(Event).filter(Event.task_id == 6).count() == 1
        assert session.query(Event).filter(Event.task_id == 1).count() == 3  # within event retention
        assert session.get(Task, 6) is not None
    assert audit.verify(world.db)["ok"]
    again = world.client("root").post("/v1/gc").json()
    assert again["items"] == [] and again["bytes"] == 0


def test_pin_keeps_files_and_cli(world: World, tmp_path: Path) -> None:
    root = world.settings.checkpoint_root
    _task(world, 11, status="SUCCEEDED", ended_days_ago=40, checkpoint=root / "11-x")
    cli = Cli(tmp_path / "cli", world.url)
    assert cli("pin", "11", token=world.tokens["carol"]).returncode == 1  # another team's task
    pinned = cli("pin", "11", token=world.tokens["alice"])
    assert pinned.returncode == 0 and "pinned" in pinned.stdout
    dry = cli("gc", token=world.tokens["root"])
    assert dry.returncode == 0 and "11-x" not in dry.stdout and "run with --apply" in dry.stdout
    assert cli("unpin", "11", token=world.tokens["alice"]).returncode == 0
    listed = cli("gc", token=world.tokens["root"])
    assert "11-x" in listed.stdout and "would free 1.1 KiB" in listed.stdout
    applied = cli("gc", "--apply", token=world.tokens["root"])
    assert applied.returncode == 0 and "freed 1.1 KiB" in applied.stdout and not (root / "11-x").exists()


def test_the_scheduler_loop_applies_event_retention_by_itself(world: World) -> None:
    root = world.settings.checkpoint_root
    _task(world, 21, status="SUCCEEDED", ended_days_ago=100, checkpoint=root / "21", events=6)
    _task(world, 22, status="SUCCEEDED", ended_days_ago=10, checkpoint=root / "22", events=6)
    Scheduler(world.db, world.settings, FakeProvider(FakeRay())).tick()
    with world.db.read() as session:
        kept = [e.to_status for e in session.query(Event).filter(Event.task_id == 21)]
        assert kept == ["SUCCEEDED"] and session.query(Event).filter(Event.task_id == 22).count() == 6
    assert audit.verify(world.db)["ok"]
    assert (root / "21").exists()  # files go only with argus gc --apply
