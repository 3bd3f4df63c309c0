"""auth: refused_attempts, one throttle table for staff sign-in and self-service

Replaces sign_in_failures and self_service_failures; their rows are carried over (kind
"sign_in" and "self_service"), so throttles in force keep holding across the upgrade.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:13:59.874033

"""
from alembic import op
import sqlalchemy as sa

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('refused_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('sign_in', 'self_service')", name=op.f('ck_refused_attempts_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refused_attempts'))
    )
    with op.batch_alter_table('refused_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_refused_attempts_at', ['at'], unique=False)
        batch_op.create_index('ix_refused_attempts_kind_address_at', ['kind', 'address', 'at'], unique=False)
        batch_op.create_index('ix_refused_attempts_kind_key_at', ['kind', 'key', 'at'], unique=False)

    op.execute("INSERT INTO refused_attempts (kind, key, address, at) "
               "SELECT 'sign_in', account_key, address, at FROM sign_in_failures")
    op.execute("INSERT INTO refused_attempts (kind, key, address, at) "
               "SELECT 'self_service', reference_key, address, at FROM self_service_failures")

    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_account_at'))
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_address_at'))

    op.drop_table('sign_in_failures')
    with op.batch_alter_table('self_service_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_service_failures_address_at'))
        batch_op.drop_index(batch_op.f('ix_self_service_failures_reference_at'))

    op.drop_table('self_service_failures')


def downgrade():
    op.create_table('self_service_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference_key', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_service_failures'))
    )
    with op.batch_alter_table('self_service_failures', schema=None) as batch_op:
        batch_op.create_index('ix_self_service_failures_reference_at', ['reference_key', 'at'], unique=False)
        batch_op.create_index('ix_self_service_failures_address_at', ['address', 'at'], unique=False)

    op.create_table('sign_in_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures'))
    )
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_failures_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_sign_in_failures_account_at', ['account_key', 'at'], unique=False)

    op.execute("INSERT INTO sign_in_failures (account_key, address, at) "
               "SELECT key, address, at FROM refused_attempts WHERE kind = 'sign_in'")
    op.execute("INSERT INTO self_service_failures (reference_key, address, at) "
               "SELECT key, address, at FROM refused_attempts WHERE kind = 'self_service'")

    with op.batch_alter_table('refused_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_refused_attempts_kind_key_at')
        batch_op.drop_index('ix_refused_attempts_kind_address_at')
        batch_op.drop_index('ix_refused_attempts_at')

    op.drop_table('refused_attempts')
