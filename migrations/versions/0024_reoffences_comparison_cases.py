"""reoffences: comparison cases, the comparison cohort of the reoffending report

People dealt with otherwise (charged, cautioned, a community resolution or other) for the kind
of offence the programme takes, each a `people` row so that the recorded reoffences apply to
them; the reoffending report compares the programme's people with them (DESIGN.md "Comparison
group"). A new table only: no data changes.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 16:45:00

"""
from alembic import op
import sqlalchemy as sa

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('comparison_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('force_id', sa.Integer(), nullable=False),
    sa.Column('index_date', sa.Date(), nullable=False),
    sa.Column('prior_offences', sa.Integer(), nullable=False),
    sa.Column('disposal', sa.Enum('charged', 'cautioned', 'community_resolution', 'other', name='comparison_disposal', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source_reference', sa.String(length=80), nullable=False),
    sa.Column('imported_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('prior_offences >= 0', name=op.f('ck_comparison_cases_prior_offences_not_negative')),
    sa.ForeignKeyConstraint(['force_id'], ['forces.id'], name=op.f('fk_comparison_cases_force_id_forces')),
    sa.ForeignKeyConstraint(['imported_by_user_id'], ['users.id'], name=op.f('fk_comparison_cases_imported_by_user_id_users')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_comparison_cases_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comparison_cases')),
    sa.UniqueConstraint('source_reference', name=op.f('uq_comparison_cases_source_reference'))
    )
    with op.batch_alter_table('comparison_cases', schema=None) as batch_op:
        batch_op.create_index('ix_comparison_cases_index_date', ['index_date', 'person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comparison_cases_person_id'), ['person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('comparison_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comparison_cases_person_id'))
        batch_op.drop_index('ix_comparison_cases_index_date')
    op.drop_table('comparison_cases')
