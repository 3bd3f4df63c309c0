"""auth: the email domain of a force's officers

`forces.email_domain` (nullable) is the domain its officers' addresses end in, such as
`wyp.police.example`; an administrator giving a police account an address outside it is warned
and must confirm. Forces added before this revision have none until an administrator sets it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('forces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_domain', sa.String(length=253), nullable=True))


def downgrade():
    with op.batch_alter_table('forces', schema=None) as batch_op:
        batch_op.drop_column('email_domain')
