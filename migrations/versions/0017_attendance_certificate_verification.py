"""attendance: certificate verification codes; refused_attempts also counts wrong codes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:00:00

Every completed referral gets its code here; later ones get theirs when they complete (or when
their first certificate is made).
"""
import datetime as dt
import secrets

import sqlalchemy as sa
from alembic import op

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The same alphabet and length as diversion.attendance.certificates (no 0/O, 1/I/L, 5/S, 2/Z).
ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
LENGTH = 12
KIND = 'ck_refused_attempts_kind'


def _code(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if code not in taken:
            taken.add(code)
            return code


def upgrade():
    op.create_table(
        'certificate_codes',
        sa.Column('referral_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=12), nullable=False),
        sa.Column('issued_at', diversion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'],
                                name=op.f('fk_certificate_codes_referral_id_referrals'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('referral_id', name=op.f('pk_certificate_codes')),
        sa.UniqueConstraint('code', name=op.f('uq_certificate_codes_code')),
    )
    connection = op.get_bind()
    completed = connection.execute(sa.text(
        "SELECT id FROM referrals WHERE status = 'completed' ORDER BY id")).scalars().all()
    now = dt.datetime.now(dt.UTC)
    taken: set[str] = set()
    table = sa.table('certificate_codes', sa.column('referral_id', sa.Integer),
                     sa.column('code', sa.String), sa.column('issued_at', diversion.core.db.UTCDateTime(timezone=True)))
    rows = [{'referral_id': referral_id, 'code': _code(taken), 'issued_at': now}
            for referral_id in completed]
    for start in range(0, len(rows), 1000):
        op.bulk_insert(table, rows[start:start + 1000])
    with op.batch_alter_table('refused_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(KIND), type_='check')
        batch_op.create_check_constraint(
            op.f(KIND), "kind IN ('sign_in', 'self_service', 'certificate_verify')")


def downgrade():
    op.execute("DELETE FROM refused_attempts WHERE kind = 'certificate_verify'")
    with op.batch_alter_table('refused_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(KIND), type_='check')
        batch_op.create_check_constraint(op.f(KIND), "kind IN ('sign_in', 'self_service')")
    op.drop_table('certificate_codes')
