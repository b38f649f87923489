"""data management: team storage quotas, SSH keys for SFTP, the code snapshots a task runs

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ssh_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_type', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user'], ['users.name'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint'),
    sa.UniqueConstraint('user', 'name', name='uq_ssh_keys_user_name')
    )
    op.create_index(op.f('ix_ssh_keys_user'), 'ssh_keys', ['user'], unique=False)
    op.add_column('teams', sa.Column('storage_quota_bytes', sa.BigInteger(), nullable=True))
    op.add_column('tasks', sa.Column('snapshots', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('snapshots')
    with op.batch_alter_table('teams') as batch:
        batch.drop_column('storage_quota_bytes')
    op.drop_index(op.f('ix_ssh_keys_user'), table_name='ssh_keys')
    op.drop_table('ssh_keys')
