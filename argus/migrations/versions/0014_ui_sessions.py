"""ui_sessions: web UI sign-ins in the database, so every API process and server sees them

Revision ID: 0014
Revises: 0013

A session was kept in one server process's memory: with several API workers on one port (or
several servers on one database) a browser's next request met a process that did not know it,
and a restart signed everyone out. A row per session now, keyed by the sha256 of the session id
(the cookie keeps the id), holding the sha256 of the user's Argus token (``api_tokens.token_hash``;
the token itself is stored nowhere) and the session's end. Expired rows go at the next sign-in.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ui_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ui_sessions_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ui_sessions_expires_at'))
    op.drop_table('ui_sessions')
