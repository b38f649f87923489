"""installation: one random id per Argus database, part of every Ray submission id

Two Argus installations sharing one Ray cluster both have a task 1; with the id in the
submission id (argus-<installation>-<task>-<attempt>) neither can adopt the other's job.

Revision ID: 0004
Revises: 0003
"""
import secrets
import time

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('installation',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(table, [{'id': secrets.token_hex(3), 'created_at': time.time()}])


def downgrade() -> None:
    op.drop_table('installation')
