"""auth: second_factors.secret kept sealed (auth.sealing: Fernet under a key derived from
SECRET_KEY), so the column is wider; the secrets already kept are sealed here

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 07:40:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from diversion.auth.sealing import seal, unseal


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

_SECRETS = sa.text("SELECT id, secret FROM second_factors ORDER BY id")
_SET = sa.text("UPDATE second_factors SET secret = :secret WHERE id = :id")


def upgrade():
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=200), existing_nullable=False)
    connection = op.get_bind()
    key = current_app.config["SECRET_KEY"]
    for factor_id, secret in connection.execute(_SECRETS).all():
        connection.execute(_SET, {"id": factor_id, "secret": seal(secret, secret_key=key)})


def downgrade():
    connection = op.get_bind()
    keys = (current_app.config["SECRET_KEY"],
            *(current_app.config.get("SECRET_KEY_FALLBACKS") or ()))
    for factor_id, sealed in connection.execute(_SECRETS).all():
        connection.execute(_SET, {"id": factor_id,
                                  "secret": unseal(sealed, secret_keys=keys)[0]})
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=200),
                              type_=sa.String(length=64), existing_nullable=False)
