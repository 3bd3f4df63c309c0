"""attendance: a draft line marked excused may wait for its reason; a decided one may not

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

NAME = 'ck_register_entries_excused_has_reason'


def upgrade():
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(
            op.f(NAME),
            "status IS NULL OR status <> 'excused' OR reason IS NOT NULL OR outcome IS NULL")


def downgrade():
    # A draft excused line without its reason cannot satisfy the old rule: give it one.
    op.execute("UPDATE register_entries SET reason = 'Reason not recorded' "
               "WHERE status = 'excused' AND reason IS NULL")
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(
            op.f(NAME), "status IS NULL OR status <> 'excused' OR reason IS NOT NULL")
