"""The loop's side of preemption on a real SQLite file: snapshot from the DB, Preempt applied."""

from sqlalchemy import select

from argus.cluster import ClusterRef
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import Attempt, AuditEntry, Event, FairShareUsage, Preemption, Task
from argus.ray_adapter import NodeInfo
from argus.control.admit import Admitter, save_usage
from argus.services.snapshot import build_snapshot, preview_decision
from argus.scheduling.planner import Node, Preempt, plan
from argus.services.prepare import Preparer
from argus.scheduling.policy import policy_from_settings
from argus.settings import Settings
from taskspec import load_spec_data


def add(session, task_id, status, priority, team, started=None, placement=("n0",)):
    t = 1000.0
    session.add(Task(id=task_id, name=f"t{task_id}", kind="custom", priority=priority, team=team,
                     status=status, reason="", spec={}, spec_text="", checkpoint_dir="/x", nodes=1,
                     gpus_per_node=8, cpus_per_node=1, gpu_model="H100", attempts=1 if started else 0,
                     created_at=t, updated_at=t, queued_at=t + task_id))
    session.flush()
    if started:
        session.add(Attempt(task_id=task_id, number=1, submission_id=f"argus-{task_id}-1", status=status,
                            placement=list(placement), created_at=started, started_at=started))


def test_realtime_snapshot_preempts_batch_and_records_the_preemptor(tmp_path):
    settings = Settings(state_dir=tmp_path, min_runtime_seconds=0, preempt_cooldown_seconds=0)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db)
    with db.write() as s:
        add(s, 1, "RUNNING", "batch", "cv", started=1500.0)
        add(s, 2, "QUEUED", "realtime", "risk")
    admitter = Admitter(db, settings, Preparer(settings))
    snap = build_snapshot(db, settings, [Node("n0", 16, 8, "H100")], True, admitter.source.current(), at=2000.0)
    assert snap.running[0].rank == 2 and snap.running[0].team == "cv" and snap.running[0].started_at == 1500.0
    decisions = plan(snap, admitter.source.current())
    preempt = next(d for d in decisions if isinstance(d, Preempt))
    assert admitter.preempt(preempt)
    assert not admitter.preempt(preempt)  # a second apply finds it PREEMPTING and does nothing
    with db.read() as s:
        assert s.get(Task, 1).status == "PREEMPTING"
        event = s.scalars(select(Event).where(Event.task_id == 1)).one()
        assert "task 2" in event.reason and event.actor == "scheduler"
        row = s.scalars(select(Preemption)).one()
        assert (row.victim_task_id, row.preemptor_task_id, row.victim_attempt) == (1, 2, 1)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "task.preempting")).one()
        assert (entry.actor, entry.target, entry.params["preemptor_task_id"]) == ("scheduler", "task/1", 2)
    snap = build_snapshot(db, settings, [Node("n0", 16, 8, "H100")], True, admitter.source.current(), at=2001.0)
    assert snap.running[0].preempting and snap.running[0].last_preempted_at is not None
    assert "waiting for 1 preempted task(s) to stop" in plan(snap, admitter.source.current())[0].reason
    db.dispose()


def test_usage_is_charged_at_admission_and_decays(tmp_path):
    settings = Settings(state_dir=tmp_path, fair_share_half_life_seconds=100)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db)
    with db.write() as s:
        add(s, 1, "QUEUED", "batch", "nlp")
    admitter = Admitter(db, settings, Preparer(settings))
    snap = build_snapshot(db, settings, [], True, admitter.source.current(), at=1000.0)
    save_usage(db, admitter.source.current(), snap, list(snap.pending))
    with db.read() as s:
        assert s.get(FairShareUsage, "nlp").usage == 8.0
    later = build_snapshot(db, settings, [], True, admitter.source.current(), at=1100.0)
    assert later.usage["nlp"] == 4.0
    db.dispose()


class _FakeCluster:
    def nodes(self):
        return [NodeInfo("n0", True, False, "10.0.0.2",
                         {"CPU": 16, "GPU": 8, "argus_worker": 1000, "accelerator_type:H100": 1})]


class _Provider:
    def current(self):
        return ClusterRef(_FakeCluster())


def test_dry_run_names_the_tasks_a_realtime_task_would_preempt(tmp_path):
    settings = Settings(state_dir=tmp_path, min_runtime_seconds=0)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db)
    with db.write() as s:
        add(s, 1, "RUNNING", "batch", "cv", started=1500.0)
    spec = load_spec_data({"kind": "custom", "name": "rt", "priority": "realtime", "code": str(tmp_path),
                           "command": ["python", "x.py"],
                           "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "8(H100)"}})
    decision = preview_decision(db, settings, _Provider(), spec, policy_from_settings(settings))
    assert decision["admit"] is False and decision["preempt"] == [1]
    assert "preempting task(s) 1" in decision["reason"]
    with db.read() as s:
        assert s.get(Task, 1).status == "RUNNING"  # a dry run changes nothing
    db.dispose()
