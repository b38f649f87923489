"""run-time policy: priority classes and team quotas in the database (seeded from the settings once)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('team_policies',
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('quota', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('team')
    )
    op.create_table('priority_classes',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('grace_seconds', sa.Integer(), nullable=False),
    sa.Column('may_preempt', sa.Boolean(), nullable=False),
    sa.Column('preemptible', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('rank')
    )
    with op.batch_alter_table('installation') as batch:
        batch.add_column(sa.Column('policy_seeded_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('installation') as batch:
        batch.drop_column('policy_seeded_at')
    op.drop_table('priority_classes')
    op.drop_table('team_policies')
