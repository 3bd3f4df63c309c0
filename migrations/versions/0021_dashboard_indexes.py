"""dashboard: indexes so each dashboard count reads a bounded range

`ix_referrals_status_closed_on`: referrals closed in the last days, by outcome (the officer's
"did not complete the course" line). `ix_registers_state_session`: draft registers (overdue
registers start from the open work, not every past session). `ix_online_payments_flagged_at`:
flagged online payments without reading every payment.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-03 16:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_referrals_status_closed_on', 'referrals', ['status', 'closed_on'])
    op.create_index('ix_registers_state_session', 'registers', ['state', 'session_id'])
    op.create_index('ix_online_payments_flagged_at', 'online_payments', ['flagged_at'])


def downgrade():
    op.drop_index('ix_online_payments_flagged_at', table_name='online_payments')
    op.drop_index('ix_registers_state_session', table_name='registers')
    op.drop_index('ix_referrals_status_closed_on', table_name='referrals')
