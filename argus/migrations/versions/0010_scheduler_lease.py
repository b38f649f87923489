"""scheduler lease: one row, taken by compare-and-set with expiry; its token fences the scheduler's writes

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table('scheduler_lease',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('token', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('acquired_at', sa.Float(), nullable=False),
    sa.Column('renewed_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(lease, [{'id': 1, 'holder': '', 'token': 0, 'expires_at': 0.0,
                            'acquired_at': 0.0, 'renewed_at': 0.0}])


def downgrade() -> None:
    op.drop_table('scheduler_lease')
