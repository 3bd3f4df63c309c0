"""referrals list: indexes for its sorts, "my referrals" and search by given name

The staff list of referrals sorts by name (`ix_people_name_sort`: family name key, first given
name key, id), by booking deadline (`ix_referrals_booking_deadline`), lists an officer's own
referrals newest first (`ix_referrals_officer_date`, which replaces the single-column
`ix_referrals_officer_user_id`), and searches by a given name's prefix (`ix_people_given_name`).
`people.given_name_key` already holds the normalised first given name of every row (filled on
create since 0002, by `referrals.matching.first_given_key`), so no data changes.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-03 15:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('ix_people_name_sort', ['family_name_key', 'given_name_key', 'id'],
                              unique=False)
        batch_op.create_index('ix_people_given_name', ['given_name_key'], unique=False)
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_booking_deadline', ['booking_deadline', 'id'],
                              unique=False)
        batch_op.create_index('ix_referrals_officer_date',
                              ['officer_user_id', 'referral_date', 'id'], unique=False)
        batch_op.drop_index('ix_referrals_officer_user_id')


def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_officer_user_id', ['officer_user_id'], unique=False)
        batch_op.drop_index('ix_referrals_officer_date')
        batch_op.drop_index('ix_referrals_booking_deadline')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('ix_people_given_name')
        batch_op.drop_index('ix_people_name_sort')
