"""bookings: online payments through GOV.UK Pay and their refunds; the payment method online_card

`online_payments` holds each attempt the man made to pay online and `online_refunds` what
managers gave back through GOV.UK Pay; `payments.method` may be `online_card`, one provider
payment is recorded at most once (a partial unique index on `payments.reference` for online
payments), and `payments.refunded_pence` is what of a payment was given back.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:45:00

"""
from alembic import op
import sqlalchemy as sa

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

METHOD_CHECK = 'ck_payments_payment_method'
REFUND_CHECK = 'ck_payments_refund_within_amount'
OLD_METHODS = ('card', 'cash', 'bank_transfer', 'cheque')
NEW_METHODS = OLD_METHODS + ('online_card',)
ONLINE_ONLY = sa.text("method = 'online_card'")


def _methods(values):
    return "method IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(METHOD_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(METHOD_CHECK), _methods(NEW_METHODS))
        batch_op.add_column(sa.Column('refunded_pence', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f(REFUND_CHECK),
                                         'refunded_pence >= 0 AND refunded_pence <= amount_pence')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('uq_payments_online_reference', ['reference'], unique=True,
                              sqlite_where=ONLINE_ONLY, postgresql_where=ONLINE_ONLY)

    op.create_table('online_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('provider_payment_id', sa.String(length=64), nullable=False),
    sa.Column('amount_pence', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('created', 'started', 'submitted', 'capturable', 'success', 'failed', 'cancelled', 'error', 'abandoned', name='online_payment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('applied_payment_id', sa.Integer(), nullable=True),
    sa.Column('excess_pence', sa.Integer(), nullable=False),
    sa.Column('flagged_at', diversion.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('flag_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_online_payments_amount_positive')),
    sa.CheckConstraint('excess_pence >= 0 AND excess_pence <= amount_pence', name=op.f('ck_online_payments_excess_within_amount')),
    sa.ForeignKeyConstraint(['applied_payment_id'], ['payments.id'], name=op.f('fk_online_payments_applied_payment_id_payments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_online_payments_referral_id_referrals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_online_payments')),
    sa.UniqueConstraint('applied_payment_id', name=op.f('uq_online_payments_applied_payment_id')),
    sa.UniqueConstraint('provider_payment_id', name=op.f('uq_online_payments_provider_payment_id')),
    sa.UniqueConstraint('token', name=op.f('uq_online_payments_token'))
    )
    with op.batch_alter_table('online_payments', schema=None) as batch_op:
        batch_op.create_index('ix_online_payments_referral', ['referral_id', 'id'], unique=False)
        batch_op.create_index('ix_online_payments_status_created', ['status', 'created_at'], unique=False)

    op.create_table('online_refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('online_payment_id', sa.Integer(), nullable=False),
    sa.Column('provider_refund_id', sa.String(length=64), nullable=False),
    sa.Column('amount_pence', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('submitted', 'success', 'error', name='online_refund_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_online_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_online_refunds_created_by_id_users')),
    sa.ForeignKeyConstraint(['online_payment_id'], ['online_payments.id'], name=op.f('fk_online_refunds_online_payment_id_online_payments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_online_refunds')),
    sa.UniqueConstraint('provider_refund_id', name=op.f('uq_online_refunds_provider_refund_id'))
    )
    with op.batch_alter_table('online_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_online_refunds_online_payment', ['online_payment_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('online_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_online_refunds_online_payment')
    op.drop_table('online_refunds')
    with op.batch_alter_table('online_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_online_payments_status_created')
        batch_op.drop_index('ix_online_payments_referral')
    op.drop_table('online_payments')
    # An online payment has no manual method to become: record it as a card payment.
    op.execute("UPDATE payments SET method = 'card' WHERE method = 'online_card'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('uq_payments_online_reference')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(REFUND_CHECK), type_='check')
        batch_op.drop_column('refunded_pence')
        batch_op.drop_constraint(op.f(METHOD_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(METHOD_CHECK), _methods(OLD_METHODS))
