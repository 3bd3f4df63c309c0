"""payments: what each online refund took off the fee, and when its status was last checked

`online_refunds.fee_pence` is the part of a refund taken off the fee (the rest came out of a
payment's excess), so a refund GOV.UK Pay later reports in error can be put back exactly once;
refunds made before this revision keep NULL (an error on one of them is flagged for a manager,
not restored). `online_refunds.checked_at` is when the reconciliation job last asked about a
refund still `submitted`; `ix_online_refunds_status` finds those.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 12:30:00

"""
from alembic import op
import sqlalchemy as sa

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

FEE_CHECK = 'ck_online_refunds_fee_within_amount'


def upgrade():
    with op.batch_alter_table('online_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fee_pence', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('checked_at', diversion.core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_check_constraint(
            op.f(FEE_CHECK), 'fee_pence IS NULL OR (fee_pence >= 0 AND fee_pence <= amount_pence)')
        batch_op.create_index('ix_online_refunds_status', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('online_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_online_refunds_status')
        batch_op.drop_constraint(op.f(FEE_CHECK), type_='check')
        batch_op.drop_column('checked_at')
        batch_op.drop_column('fee_pence')
