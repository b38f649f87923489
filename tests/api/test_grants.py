"""Grants: a user reads teammates' logs only when granted, never another team's; audited."""

from __future__ import annotations

from sqlalchemy import select

from argus.db.models import AuditEntry
from argus.services import tasks as task_service
from taskspec import load_spec_data


def _task(world, owner: str, team: str) -> int:  # noqa: ANN001
    spec = load_spec_data(world.spec(owner), source="test")
    return task_service.create_task(world.db, world.settings, spec, owner=owner, team=team)["id"]


def test_granted_user_reads_team_logs_and_loses_them_on_revoke(world):
    alices, carols = _task(world, "alice", "red"), _task(world, "carol", "blue")
    bob, tadmin = world.client("bob"), world.client("tadmin")
    assert bob.get(f"/v1/tasks/{alices}/logs").status_code == 403

    granted = tadmin.post("/v1/users/bob/grants", json={"action": "task.logs"})
    assert granted.status_code == 201 and granted.json()["grants"] == ["task.logs"]
    assert bob.get(f"/v1/tasks/{alices}/logs").status_code == 200
    assert bob.get(f"/v1/tasks/{carols}/logs").status_code == 403  # team scope, not all
    assert bob.post(f"/v1/tasks/{alices}/cancel").status_code == 403  # logs only
    assert [u["grants"] for u in tadmin.get("/v1/users").json()["items"] if u["name"] == "bob"] == [["task.logs"]]
    again = tadmin.post("/v1/users/bob/grants", json={"action": "task.logs"})
    assert again.status_code == 409 and "already has" in again.json()["error"]["message"]

    assert tadmin.delete("/v1/users/bob/grants/task.logs").json()["grants"] == []
    assert bob.get(f"/v1/tasks/{alices}/logs").status_code == 403
    assert tadmin.delete("/v1/users/bob/grants/task.logs").status_code == 404

    with world.db.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.grant")).all()
        assert [(e.actor, e.target, e.params.get("permission"), e.outcome) for e in entries] == [
            ("tadmin", "user/bob", "task.logs", "ok"), ("tadmin", "user/bob", "task.logs", "error 409"),
            ("tadmin", "user/bob", "task.logs", "ok"), ("tadmin", "user/bob", "task.logs", "error 404")]


def test_grants_are_bounded(world):
    tadmin = world.client("tadmin")
    other_team = tadmin.post("/v1/users/carol/grants", json={"action": "task.logs"})
    assert other_team.status_code == 403  # a team-admin grants only to their team's members
    assert world.client("bob").post("/v1/users/alice/grants", json={"action": "task.logs"}).status_code == 403
    bad = world.client("root").post("/v1/users/bob/grants", json={"action": "task.cancel"})
    assert bad.status_code == 400 and "grantable: task.logs" in bad.json()["error"]["message"]
    assert world.client("root").post("/v1/users/nobody/grants", json={"action": "task.logs"}).status_code == 404
    with world.db.read() as session:
        denied = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                          AuditEntry.action == "user.grant")).all()
        assert {e.actor for e in denied} == {"tadmin", "bob"}
