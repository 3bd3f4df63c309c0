"""auth: sign_in_guards (progressive delay per account and known device, limits per address)
and password_reset_tokens (single-use links, only a digest kept)

The sign-in failures of the old lock-out (`refused_attempts` rows of kind `sign_in`) are no
longer read; they are left for the housekeeping job to forget within a day.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 16:25:06

"""
import sqlalchemy as sa
from alembic import op

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_guards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope IN ('account', 'device', 'address', 'reset_address')", name=op.f('ck_sign_in_guards_scope')),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_sign_in_guards_failures_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_guards')),
    sa.UniqueConstraint('scope', 'key', name='uq_sign_in_guards_scope_key')
    )
    with op.batch_alter_table('sign_in_guards', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_guards_last_attempt_at', ['last_attempt_at'], unique=False)

    op.create_table('password_reset_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_reset_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_reset_tokens_token_hash'))
    )
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_password_reset_tokens_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_reset_tokens_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_tokens_user_id'))
        batch_op.drop_index('ix_password_reset_tokens_expires_at')

    op.drop_table('password_reset_tokens')
    with op.batch_alter_table('sign_in_guards', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_guards_last_attempt_at')

    op.drop_table('sign_in_guards')
