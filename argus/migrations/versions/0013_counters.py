"""counters: the identity epoch that cached principals are checked against

Revision ID: 0013
Revises: 0012

``counters('identity')`` moves by one on every change that can change what a token may do: a
user changed or deleted, a grant added, changed or deleted, a token's owner, name, hash, expiry
or revocation changed, or a token deleted (not ``last_used_at``, not a new user or token).
Database triggers do it, so a change by any path — a service, a script, an operator's SQL —
moves it in the same transaction. A later migration that rebuilds one of these tables in
SQLite's batch mode must create its triggers again (tests/unit/test_principal_cache.py checks
the epoch moves at head).
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BUMP = "UPDATE counters SET value = value + 1 WHERE name = 'identity'"
# (trigger name, event, table)
TRIGGERS = [
    ("identity_epoch_users_update", "UPDATE", "users"),
    ("identity_epoch_users_delete", "DELETE", "users"),
    ("identity_epoch_grants_insert", "INSERT", "grants"),
    ("identity_epoch_grants_update", "UPDATE", "grants"),
    ("identity_epoch_grants_delete", "DELETE", "grants"),
    ("identity_epoch_tokens_update",
     'UPDATE OF "user", name, token_hash, expires_at, revoked_at', "api_tokens"),
    ("identity_epoch_tokens_delete", "DELETE", "api_tokens"),
]


def upgrade() -> None:
    counters = op.create_table(
        'counters',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(counters, [{'name': 'identity', 'value': 0}])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"""CREATE FUNCTION identity_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN {BUMP}; RETURN NULL; END $$""")
    for name, event, table in TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")
        elif dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION identity_epoch_bump()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, _event, table in TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS identity_epoch_bump()")
    op.drop_table('counters')
