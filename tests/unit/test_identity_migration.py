"""Migration 0003: the identity tables and the audit log's append-only triggers, both ways."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from argus.db.engine import Database
from argus.db.migrate import alembic_config, upgrade


def _triggers(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")).scalars())


def test_upgrade_creates_tables_and_triggers_and_downgrade_removes_them(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'argus.db'}")
    upgrade(db, "0003")
    assert {"teams", "users", "api_tokens", "audit_log"} <= set(inspect(db.write_engine).get_table_names())
    assert _triggers(db) == {"audit_log_no_update", "audit_log_no_delete"}
    cfg = alembic_config()
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.commit()
    tables = set(inspect(db.write_engine).get_table_names())
    assert "audit_log" not in tables and "preemptions" in tables
    assert _triggers(db) == set()
