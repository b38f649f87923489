"""The audit trail: what is recorded, that the database refuses edits, that tampering is found."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from argus.db import audit as audit_log
from argus.db.store import transition
from argus.states import TaskStatus


def export(world, **params) -> list[dict]:  # noqa: ANN001, ANN003
    response = world.client("audrey").get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_state_changing_request_is_recorded_with_who_what_where(world):
    response = world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    task_id = response.json()["id"]
    [entry] = export(world, action="task.submit")
    assert entry["actor"] == "alice" and entry["token_name"] == "main"
    assert entry["source_ip"] == "127.0.0.1" and entry["outcome"] == "ok"
    assert entry["target"] == f"task/{task_id}" and entry["params"]["name"] == "t-alice"
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert entry["time"].endswith("+00:00")


def test_denied_attempts_are_recorded(world):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]
    assert world.client("bob").post(f"/v1/tasks/{task_id}/cancel").status_code == 403
    assert world.client("bob").get(f"/v1/tasks/{task_id}/logs").status_code == 403
    assert world.client("nobody").get("/v1/tasks").status_code == 401
    denied = export(world, user="bob")
    assert [(e["action"], e["target"], e["outcome"]) for e in denied] == [
        ("task.cancel", f"/v1/tasks/{task_id}/cancel", "denied"),
        ("task.logs", f"/v1/tasks/{task_id}/logs", "denied")]
    anonymous = export(world, user="-")
    assert anonymous[-1]["action"] == "task.list" and anonymous[-1]["outcome"] == "denied"


def test_token_secret_never_reaches_the_trail(world):
    secret = world.client("alice").post("/v1/tokens", json={"user": "alice", "name": "x"}).json()["token"]
    raw = world.client("audrey").get("/v1/audit").text
    assert secret not in raw and "token.create" in raw
    assert audit_log.redact({"env": {"HF_TOKEN": "s", "A": "b"}, "password": "p"}) == {
        "env": {"HF_TOKEN": "[redacted]", "A": "b"}, "password": "[redacted]"}


def test_scheduler_transitions_are_recorded_in_the_same_transaction(world):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]
    with world.db.write() as session:
        assert transition(session, task_id, TaskStatus.QUEUED, TaskStatus.SUBMITTING,
                          reason="admitted on node-1", attempt=1)
    [entry] = export(world, user="scheduler")
    assert entry["action"] == "task.submitting" and entry["target"] == f"task/{task_id}"
    assert entry["params"] == {"from": "QUEUED", "to": "SUBMITTING", "attempt": 1,
                               "reason": "admitted on node-1"}


def test_export_filters_and_csv(world):
    world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    middle = time.time()
    world.client("carol").post("/v1/tasks", json=world.spec("carol"))
    assert [e["actor"] for e in export(world, action="task.submit", since=str(middle))] == ["carol"]
    assert [e["actor"] for e in export(world, action="task.submit", until=str(middle))] == ["alice"]
    assert {e["action"] for e in export(world, action="task.")} == {"task.submit"}
    csv_text = world.client("audrey").get("/v1/audit", params={"format": "csv"}).text
    rows = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["action"] == "task.submit"]
    assert [r["actor"] for r in rows] == ["alice", "carol"]
    assert json.loads(rows[0]["params"])["name"] == "t-alice"


def test_the_database_refuses_update_and_delete(world):
    world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), world.db.write() as session:
            session.execute(text(statement))


def test_hand_edited_entry_is_found_at_exactly_that_entry(world):
    for _ in range(3):
        world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    entries = export(world)
    assert world.client("audrey").get("/v1/audit/verify").json()["ok"] is True
    victim = entries[2]["id"]
    with world.db.write() as session:  # an attacker with the file: drop the trigger, edit
        session.execute(text("DROP TRIGGER audit_log_no_update"))
        session.execute(text("UPDATE audit_log SET actor = 'bob' WHERE id = :id"), {"id": victim})
    report = world.client("audrey").get("/v1/audit/verify").json()
    assert report["ok"] is False and report["first_broken"]["id"] == victim
    assert "edited" in report["first_broken"]["reason"]


def test_deleted_entry_is_found_at_the_next_one(world):
    for _ in range(3):
        world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    ids = [e["id"] for e in export(world)]
    with world.db.write() as session:
        session.execute(text("DROP TRIGGER audit_log_no_delete"))
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    report = world.client("audrey").get("/v1/audit/verify").json()
    assert report["first_broken"]["id"] == ids[2]


def test_bootstrap_is_the_first_entry(world):
    first = export(world)[0]
    assert (first["action"], first["actor"], first["source_ip"]) == ("admin.init", "root", "local")


def test_preemption_is_recorded_with_its_preemptor(world):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]
    steps = [TaskStatus.QUEUED, TaskStatus.SUBMITTING, TaskStatus.SUBMITTED, TaskStatus.RUNNING,
             TaskStatus.PREEMPTING]
    with world.db.write() as session:
        for src, dst in zip(steps, steps[1:], strict=False):
            extra = {"audit_params": {"preemptor": 99}} if dst is TaskStatus.PREEMPTING else {}
            assert transition(session, task_id, src, dst, attempt=1, **extra)
    entries = export(world, user="scheduler")
    assert [e["action"] for e in entries] == [
        "task.submitting", "task.submitted", "task.running", "task.preempting"]
    assert entries[-1]["params"]["preemptor"] == 99


def test_a_refused_state_change_is_recorded_once_with_its_error(world):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]
    assert world.client("alice").post(f"/v1/tasks/{task_id}/cancel").status_code == 202
    assert world.client("alice").post(f"/v1/tasks/{task_id}/cancel").status_code == 409
    cancels = export(world, action="task.cancel")
    assert [(e["outcome"], e["target"]) for e in cancels] == [
        ("ok", f"task/{task_id}"), ("error 409", f"/v1/tasks/{task_id}/cancel")]
    assert cancels[0]["params"] == {"to": "CANCELLED"}


def test_client_controlled_values_cannot_break_the_trail_or_a_spreadsheet(world):
    evil = "=HYPERLINK(\"http://x\")" + "x" * 200
    response = world.client("bob").post("/v1/tasks/1/cancel", headers={"X-Request-ID": evil})
    assert response.status_code in (403, 404)
    csv_text = world.client("audrey").get("/v1/audit", params={"format": "csv", "user": "bob"}).text
    [row] = list(csv.DictReader(io.StringIO(csv_text)))
    assert row["request_id"] == response.headers["X-Request-ID"] != evil  # the server's id
    client_id = json.loads(row["params"])["client_request_id"]  # the client's, kept beside it
    assert client_id == evil[:64] and row["params"].startswith("{")
    assert world.client("audrey").get("/v1/audit/verify").json()["ok"] is True
