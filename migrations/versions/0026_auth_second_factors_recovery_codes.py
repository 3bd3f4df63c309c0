"""auth: second_factors (TOTP secrets, the last used time step) and recovery_codes (digests
only); sign_in_guards may also count wrong second-factor codes (scope second_factor)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 17:30:00

"""
import sqlalchemy as sa
from alembic import op

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

OLD_SCOPES = "scope IN ('account', 'device', 'address', 'reset_address')"
NEW_SCOPES = "scope IN ('account', 'device', 'address', 'reset_address', 'second_factor')"


def upgrade():
    op.create_table('second_factors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_second_factors_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_second_factors')),
    sa.UniqueConstraint('user_id', name=op.f('uq_second_factors_user_id'))
    )
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('sign_in_guards', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sign_in_guards_scope'), type_='check')
        batch_op.create_check_constraint('scope', NEW_SCOPES)


def downgrade():
    op.execute("DELETE FROM sign_in_guards WHERE scope = 'second_factor'")
    with op.batch_alter_table('sign_in_guards', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sign_in_guards_scope'), type_='check')
        batch_op.create_check_constraint('scope', OLD_SCOPES)
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    op.drop_table('second_factors')
