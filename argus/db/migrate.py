"""Schema migrations with Alembic: ``upgrade(db)`` brings any database to the newest revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from argus.db.engine import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate to ``revision``. On SQLite, with foreign keys off while it runs (SQLite's own
    procedure for rebuilding a table others reference: a batch-mode migration drops and
    renames ``tasks`` under ``attempts`` and ``events``), checked before the commit."""
    cfg = alembic_config()
    with db.write_engine.connect() as conn:
        raw = conn.connection.driver_connection if db.is_sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction: before any
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if raw is not None:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration to {revision} left broken references: {broken[:5]}")
            conn.commit()
        finally:
            if raw is not None:
                if conn.in_transaction():
                    conn.rollback()
                raw.execute("PRAGMA foreign_keys=ON")


def current_revision(db: Database) -> str | None:
    with db.read_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
