"""user secrets: encrypted per-user values injected into that user's jobs (WANDB_API_KEY)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_secrets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user'], ['users.name'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user', 'name', name='uq_user_secrets_user_name')
    )
    op.create_index(op.f('ix_user_secrets_user'), 'user_secrets', ['user'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_user_secrets_user'), table_name='user_secrets')
    op.drop_table('user_secrets')
