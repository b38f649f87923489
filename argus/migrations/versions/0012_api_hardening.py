"""api hardening: Idempotency-Key unique per owner; audit_log refuses INSERT OR REPLACE

Revision ID: 0012
Revises: 0011

- tasks: the global UNIQUE(idempotency_key) becomes UNIQUE(owner, idempotency_key), so
  another user's same key creates their own task. SQLite rebuilds the table (batch mode) with
  foreign keys off (``argus.db.migrate.upgrade``), so attempts and events keep their rows.
- audit_log: a BEFORE INSERT guard. SQLite's ``INSERT OR REPLACE`` deletes the row it
  replaces without firing the DELETE trigger (recursive triggers are off), so the
  append-only triggers alone let an entry be rewritten.
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

SQLITE_GUARD = """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
   WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""
POSTGRES_GUARD = [
    """CREATE FUNCTION audit_log_no_replace() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN
            IF EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) THEN
              RAISE EXCEPTION 'audit_log is append-only';
            END IF;
            RETURN NEW;
          END $$""",
    """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_no_replace()""",
]
OLD_UNIQUE = {"sqlite": "uq_tasks_idempotency_key", "postgresql": "tasks_idempotency_key_key"}
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('tasks', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(OLD_UNIQUE.get(dialect, "tasks_idempotency_key_key"), type_='unique')
        batch_op.create_unique_constraint('uq_tasks_owner_idempotency_key', ['owner', 'idempotency_key'])
    if dialect == "sqlite":
        op.execute(SQLITE_GUARD)
    elif dialect == "postgresql":
        for statement in POSTGRES_GUARD:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_no_replace()")
    with op.batch_alter_table('tasks', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('uq_tasks_owner_idempotency_key', type_='unique')
        batch_op.create_unique_constraint(OLD_UNIQUE.get(dialect, "tasks_idempotency_key_key"),
                                          ['idempotency_key'])
