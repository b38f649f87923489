"""Migration 0012 on a database that already holds tasks: the tasks table is rebuilt under
attempts and events that reference it, nothing is lost, and keys become per owner."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from argus.db.engine import Database
from argus.db.migrate import current_revision, head_revision, upgrade

TASK = ("INSERT INTO tasks (id, name, kind, priority, team, owner, status, reason, spec, spec_text, "
        "checkpoint_dir, nodes, gpus_per_node, cpus_per_node, attempts, max_attempts, preemptions, "
        "idempotency_key, created_at, updated_at, queued_at) VALUES (:id, 'n', 'custom', 'batch', "
        "NULL, :owner, 'SUCCEEDED', '', '{}', '', '/c', 1, 0, 1, 1, 3, 0, :key, 0, 0, 0)")


def test_an_existing_trail_of_tasks_survives_and_keys_become_per_owner(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'argus.db'}")
    upgrade(db, "0011")
    with db.write() as session:
        session.execute(text(TASK), {"id": 1, "owner": "alice", "key": "nightly"})
        session.execute(text("INSERT INTO attempts (task_id, number, submission_id, status, placement, ray_address, message, "
                             "created_at) VALUES (1, 1, 'argus-x-1-1', 'SUCCEEDED', '[]', '', '', 0)"))
        session.execute(text("INSERT INTO events (task_id, ts, to_status, reason, actor) "
                             "VALUES (1, 0, 'QUEUED', '', 'alice')"))
        with pytest.raises(IntegrityError):  # before: one key for everybody
            with session.begin_nested():
                session.execute(text(TASK), {"id": 2, "owner": "carol", "key": "nightly"})
    upgrade(db)
    assert current_revision(db) == head_revision()
    with db.write_engine.connect() as conn:  # the pooled connection has its foreign keys back
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with db.write() as session:
        assert session.execute(text("SELECT count(*) FROM attempts WHERE task_id = 1")).scalar() == 1
        assert session.execute(text("SELECT count(*) FROM events WHERE task_id = 1")).scalar() == 1
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
        session.execute(text(TASK), {"id": 2, "owner": "carol", "key": "nightly"})  # now her own
        with pytest.raises(IntegrityError):
            with session.begin_nested():
                session.execute(text(TASK), {"id": 3, "owner": "alice", "key": "nightly"})
    db.dispose()
