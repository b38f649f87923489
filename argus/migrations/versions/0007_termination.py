"""termination: a typed reason for every ended attempt and task; placement pending since

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('termination', sa.String(length=32), nullable=True))
    with op.batch_alter_table('attempts') as batch:
        batch.add_column(sa.Column('termination', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('placement_pending_since', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attempts') as batch:
        batch.drop_column('placement_pending_since')
        batch.drop_column('termination')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('termination')
