"""Alembic migrations build exactly the schema the models describe, with SQLite's pragmas on."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from argus.db.engine import Database
from argus.db.migrate import current_revision, head_revision, upgrade
from argus.db.models import Base


def test_migrations_match_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'argus.db'}")
    upgrade(db)
    assert current_revision(db) == head_revision()
    with db.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_sqlite_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'argus.db'}")
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
