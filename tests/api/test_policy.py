"""The run-time policy: one truth built from the typed settings, seeded into the database once,
changed through the API and CLI by admins (audited) and seen by the scheduler without a restart."""

from __future__ import annotations

import threading

from sqlalchemy import select

from argus.db.models import AuditEntry, Task
from argus.errors import Conflict
from argus.scheduling.policy import policy_from_settings
from argus.services import tasks as task_service
from argus.services.policy import PolicySource, load_policy, seed_policy
from argus.services.prepare import Preparer
from argus.settings import Settings
from taskspec import load_spec_data
from tests.api.test_cli_identity import Cli


def test_one_truth_for_the_stop_grace(tmp_path):
    """Built-in classes keep their grace (batch 60 s) whatever ARGUS_STOP_WAIT_SECONDS says; the
    setting is the grace of a class that is not built in. The compiled job carries the same."""
    settings = Settings(state_dir=tmp_path, priorities=["realtime", "online", "batch", "scavenger"],
                        stop_wait_seconds=45)
    policy = policy_from_settings(settings)
    assert {c.name: c.grace_seconds for c in policy.classes} == {
        "realtime": 30, "online": 30, "batch": 60, "scavenger": 45}
    preparer = Preparer(settings)
    for name, grace in (("batch", 60), ("scavenger", 45)):
        spec = load_spec_data({"kind": "custom", "name": "g", "code": str(tmp_path), "priority": name,
                               "command": ["python", "x.py"], "resources": {"nodes": 1, "cpus": 1}})
        request = preparer.compile(spec, task_id=1, attempt=1, checkpoint_dir=str(tmp_path))
        assert request.runtime_env["env_vars"]["RAY_JOB_STOP_WAIT_TIME_S"] == str(grace)


def test_settings_seed_the_database_once(world):
    db = world.db  # create_app seeded it from the world's settings (no teams)
    assert not seed_policy(db, Settings(state_dir=world.settings.state_dir,
                                        teams={"red": {"quota": {"H100": {"nominal": 1}}}}))
    assert load_policy(db, policy_from_settings(world.settings)).teams == {}


def test_admin_changes_quota_and_the_scheduler_sees_it_without_restart(world):
    source = PolicySource(world.settings, world.db, ttl=0)  # what a running scheduler holds
    assert source.current().team("red") is None
    root = world.client("root")
    r = root.put("/v1/teams/red/quota", json={"flavor": "h100", "nominal": 8, "borrowing_limit": 2})
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["H100"] == {"nominal": 8, "borrowing_limit": 2, "lending_limit": None}
    red = source.current().team("red")
    assert red.quota["H100"].nominal == 8 and red.quota["H100"].borrowing_limit == 2
    assert root.put("/v1/teams/red/quota", json={"weight": 3}).json()["weight"] == 3
    assert source.current().weight("red") == 3
    view = world.client("alice").get("/v1/teams/red").json()["quota"]
    assert [row["nominal"] for row in view if row["flavor"] == "H100"] == [8]
    assert root.delete("/v1/teams/red/quota", params={"flavor": "H100"}).status_code == 200
    assert "H100" not in source.current().team("red").quota
    with world.db.read() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.target == "team/red/quota")).all()
    assert [e.action for e in entries] == ["policy.write"] * 3 and entries[0].actor == "root"
    assert entries[0].params["quota"]["H100"]["nominal"] == 8


def test_only_admins_change_the_policy_and_bad_values_are_refused(world):
    for who in ("tadmin", "alice", "vera"):
        assert world.client(who).put("/v1/teams/red/quota", json={"weight": 2}).status_code == 403
        assert world.client(who).put("/v1/priority-classes/x", json={"grace_seconds": 5}).status_code == 403
    assert world.client("vera").get("/v1/policy").status_code == 200
    assert world.client("audrey").get("/v1/policy").status_code == 403
    root = world.client("root")
    bad = root.put("/v1/teams/red/quota", json={"flavor": "H100", "nominal": -1})
    assert bad.status_code == 422 and "nominal" in bad.text
    assert root.put("/v1/teams/red/quota", json={"flavor": "H100"}).status_code == 400
    assert root.put("/v1/teams/red/quota", json={}).status_code == 400
    assert root.put("/v1/teams/r%20d/quota", json={"weight": 1}).status_code == 400
    assert root.put("/v1/priority-classes/batch", json={"grace_seconds": 0}).status_code == 422
    assert root.put("/v1/priority-classes/batch", json={"colour": "red"}).status_code == 422


def test_priority_classes_change_at_run_time(world):
    root = world.client("root")
    r = root.put("/v1/priority-classes/urgent", json={"rank": 0, "grace_seconds": 10, "preemptible": False})
    assert r.status_code == 200, r.text
    classes = root.get("/v1/policy").json()["priority_classes"]
    assert [(c["name"], c["rank"]) for c in classes] == [("urgent", 0), ("realtime", 1), ("online", 2), ("batch", 3)]
    assert classes[0]["grace_seconds"] == 10 and classes[0]["preemptible"] is False
    submitted = world.client("alice").post("/v1/tasks", json=world.spec("alice", priority="urgent"))
    assert submitted.status_code == 201, submitted.text
    unknown = world.client("alice").post("/v1/tasks", json=world.spec("alice", priority="urgentt"))
    assert unknown.status_code == 422 and "did you mean 'urgent'" in unknown.text
    busy = root.delete("/v1/priority-classes/urgent")
    assert busy.status_code == 409 and str(submitted.json()["id"]) in busy.text
    assert world.client("alice").post(f"/v1/tasks/{submitted.json()['id']}/cancel").is_success
    assert root.delete("/v1/priority-classes/urgent").status_code == 200
    assert [c["rank"] for c in root.get("/v1/policy").json()["priority_classes"]] == [0, 1, 2]
    moved = root.put("/v1/priority-classes/batch", json={"rank": 0}).json()
    assert moved["rank"] == 0 and moved["grace_seconds"] == 60


def test_cli_sets_quota_and_classes(world, tmp_path):
    cli = Cli(tmp_path, world.url)
    token = world.tokens["root"]
    done = cli("team", "quota", "set", "blue", "--flavor", "A100", "--nominal", "4", "--weight", "2", token=token)
    assert done.returncode == 0, done.stderr
    assert "team blue: weight 2, quota A100 4" in done.stdout
    shown = cli("team", "quota", "show", token=token)
    assert "blue" in shown.stdout and "A100" in shown.stdout
    refused = cli("team", "quota", "set", "blue", "--weight", "2", token=world.tokens["alice"])
    assert refused.returncode != 0 and "policy.write" in refused.stderr
    usage = cli("team", "quota", "set", "blue", "--flavor", "A100", token=token)
    assert usage.returncode != 0 and "--nominal" in usage.stderr
    made = cli("priority-class", "set", "scavenger", "--grace-seconds", "5", "--no-may-preempt", token=token)
    assert made.returncode == 0 and "rank 3, grace 5 s, may preempt no" in made.stdout, made.stderr
    listed = cli("priority-class", "list", token=token)
    assert "scavenger" in listed.stdout


def test_resubmit_checks_and_inserts_in_one_transaction(world):
    spec = load_spec_data(world.spec("alice"), source="t")
    old = task_service.create_task(world.db, world.settings, spec, owner="alice", team="red")
    task_service.cancel(world.db, old["id"])
    results: list[object] = []

    def resubmit() -> None:
        try:
            results.append(task_service.resubmit(world.db, world.settings, old["id"], actor="alice"))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=resubmit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r for r in results if isinstance(r, dict)]
    assert len(made) == 1 and sum(isinstance(r, Conflict) for r in results) == 3
    with world.db.read() as s:
        assert s.scalars(select(Task).where(Task.resubmit_of == old["id"])).all()[0].id == made[0]["id"]
