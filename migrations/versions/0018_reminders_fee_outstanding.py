"""reminders: the fee outstanding reminder kind; bookings indexed by status for the fees list

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 12:30:00

`reminder_plan_items.kind` is a portable enum (a CHECK constraint, not a native type): the
constraint is dropped and made again with the new value, in batch mode so SQLite copies the
table and PostgreSQL alters it in place.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

KIND = 'ck_reminder_plan_items_reminder_kind'
BEFORE = ('first_reminder', 'final_reminder', 'joining_details', 'deadline_approaching',
          'offer_withdrawn')
AFTER = BEFORE + ('fee_outstanding',)


def _kinds(values):
    return "kind IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade():
    with op.batch_alter_table('reminder_plan_items', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(KIND), type_='check')
        batch_op.create_check_constraint(op.f(KIND), _kinds(AFTER))
    # The fees outstanding list: active bookings (not the history), by session.
    op.create_index('ix_bookings_status_session', 'bookings', ['status', 'session_id'])


def downgrade():
    op.drop_index('ix_bookings_status_session', table_name='bookings')
    op.execute("DELETE FROM reminder_plan_items WHERE kind = 'fee_outstanding'")
    with op.batch_alter_table('reminder_plan_items', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(KIND), type_='check')
        batch_op.create_check_constraint(op.f(KIND), _kinds(BEFORE))
