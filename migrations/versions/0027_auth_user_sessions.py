"""auth: user_sessions, one row per staff sign-in (the identifier kept as a SHA-256 digest),
whose idle and absolute limits are read from the row, not the cookie

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_user_sessions_key_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_user_sessions_user_id_ended_at', ['user_id', 'ended_at'], unique=False)
        batch_op.create_index('ix_user_sessions_last_seen_at', ['last_seen_at'], unique=False)


def downgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_user_sessions_last_seen_at')
        batch_op.drop_index('ix_user_sessions_user_id_ended_at')
    op.drop_table('user_sessions')
