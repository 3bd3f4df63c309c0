"""api_tokens.expires_at: a token may be given an expiry date (None: until revoked)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import diversion.core.db


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', diversion.core.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
