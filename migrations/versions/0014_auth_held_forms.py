"""auth: held_forms, what a staff page posted after its sign-in ended, kept until sign-in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import diversion.core.db

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('held_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=2000), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('fields_json', sa.Text(), nullable=False),
    sa.Column('dropped_files', sa.String(length=1000), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("method IN ('POST')", name=op.f('ck_held_forms_method')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_held_forms_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_forms')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_held_forms_token_hash'))
    )
    with op.batch_alter_table('held_forms', schema=None) as batch_op:
        batch_op.create_index('ix_held_forms_created_at', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_held_forms_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('held_forms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_held_forms_user_id'))
        batch_op.drop_index('ix_held_forms_created_at')

    op.drop_table('held_forms')
