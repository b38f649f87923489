"""scheduling: fair-share usage, preemptions, quota loans

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fair_share_usage',
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('usage', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('team')
    )
    op.create_table('preemptions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('victim_task_id', sa.Integer(), nullable=False),
    sa.Column('victim_attempt', sa.Integer(), nullable=True),
    sa.Column('preemptor_task_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['preemptor_task_id'], ['tasks.id'], ),
    sa.ForeignKeyConstraint(['victim_task_id'], ['tasks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('preemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preemptions_preemptor_task_id'), ['preemptor_task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_preemptions_victim_task_id'), ['victim_task_id'], unique=False)
    op.create_table('quota_loans',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('lender', sa.String(length=64), nullable=False),
    sa.Column('borrower', sa.String(length=64), nullable=False),
    sa.Column('flavor', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reverted_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('quota_loans')
    with op.batch_alter_table('preemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preemptions_victim_task_id'))
        batch_op.drop_index(batch_op.f('ix_preemptions_preemptor_task_id'))
    op.drop_table('preemptions')
    op.drop_table('fair_share_usage')
