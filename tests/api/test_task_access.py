"""Owner and team come from the token; nobody touches another user's tasks, logs or files."""

from __future__ import annotations

import os

import pytest


def test_owner_and_team_come_from_the_token(world):
    created = world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["owner"] == "alice" and task["team"] == "red"
    events = world.client("alice").get(f"/v1/tasks/{task['id']}/events").json()["items"]
    assert events[0]["actor"] == "alice"


def test_yaml_naming_another_team_is_refused(world):
    response = world.client("alice").post("/v1/tasks", json=world.spec("alice", team="blue"))
    assert response.status_code == 403
    assert "team: 'blue' is not your team" in response.json()["error"]["message"]
    assert world.client("alice").post("/v1/tasks", json=world.spec("alice", team="red")).status_code == 201


def test_user_cannot_touch_another_users_task(world):
    task_id = world.client("carol").post("/v1/tasks", json=world.spec("carol")).json()["id"]
    alice = world.client("alice")
    for method, suffix in [("GET", ""), ("GET", "/events"), ("GET", "/logs"),
                           ("GET", "/logs?follow=true"), ("POST", "/cancel"), ("POST", "/resubmit")]:
        response = alice.request(method, f"/v1/tasks/{task_id}{suffix}")
        assert response.status_code == 403, (method, suffix)
        assert response.json()["error"]["code"] == "forbidden"
    assert world.client("carol").get(f"/v1/tasks/{task_id}").json()["status"] == "QUEUED"
    assert task_id not in [t["id"] for t in alice.get("/v1/tasks").json()["items"]]


def test_teammate_sees_the_queue_but_not_the_logs(world):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]
    bob = world.client("bob")
    assert [t["id"] for t in bob.get("/v1/tasks").json()["items"]] == [task_id]
    assert bob.get(f"/v1/tasks/{task_id}").status_code == 200
    assert bob.get(f"/v1/tasks/{task_id}/logs").status_code == 403
    assert bob.post(f"/v1/tasks/{task_id}/cancel").status_code == 403
    assert world.client("tadmin").get(f"/v1/tasks/{task_id}/logs").status_code == 200


@pytest.mark.parametrize("field", ["outside", "dotdot", "symlink", "relative", "other_user"])
def test_task_paths_outside_the_allowed_roots_are_refused(world, tmp_path, field):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    mine = world.workspace("alice")
    code = {
        "outside": str(outside),
        "dotdot": f"{mine}/../../carol/code",
        "relative": "code",
        "other_user": str(world.workspace("carol")),
    }.get(field)
    if field == "symlink":
        os.symlink(outside, mine / "escape")
        code = str(mine / "escape")
    response = world.client("alice").post("/v1/tasks", json=world.spec("alice", code=code))
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "code:" in message and code in message
    if field == "symlink":
        assert "through a symlink" in message
    if field == "dotdot":
        assert "'..'" in message
    assert world.client("alice").get("/v1/tasks").json()["total"] == 0


def test_verl_files_are_checked_field_by_field(world, tmp_path):
    spec = {"kind": "verl", "name": "g", "verl": {
        "code": "v0.9.1", "model": "Qwen/Qwen2.5-0.5B",
        "train_files": [str(world.workspace("alice") / "train.parquet"), "/etc/passwd"],
        "reward": {"path": str(tmp_path / "reward.py")}}}
    response = world.client("alice").post("/v1/tasks", json=spec)
    assert response.status_code == 422
    paths = [d["path"] for d in response.json()["error"]["details"]]
    assert paths[:2] == ["verl.train_files[1]", "verl.reward.path"]  # then: no tree v0.9.1 here


def test_team_workspace_is_allowed_to_the_team_only(world):
    team_code = world.settings.shared_root / "teams" / "red" / "proj"
    team_code.mkdir(parents=True)
    ok = world.client("alice").post("/v1/tasks", json=world.spec("alice", code=str(team_code)))
    assert ok.status_code == 201, ok.text
    refused = world.client("carol").post("/v1/tasks", json=world.spec("carol", code=str(team_code)))
    assert refused.status_code == 422


def test_path_refusal_comes_with_the_other_problems_and_never_probes_the_disk(world, tmp_path):
    spec = world.spec("alice", code=str(tmp_path / "no-such-dir"), priority="urgent")
    response = world.client("alice").post("/v1/tasks", json=spec)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [d["path"] for d in details] == ["priority", "code"]
    assert "outside the paths" in details[1]["message"]  # not "does not exist": no disk probe
