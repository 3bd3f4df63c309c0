"""auth: second_factors.secret kept sealed (auth.sealing: Fernet under a key derived from
SECRET_KEY), so the column is wider; the secrets already kept are sealed here

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 07:40:00

"""
import os

import sqlalchemy as sa
from alembic import op
from flask import current_app

from diversion.auth.sealing import SealBroken, seal, unseal
from diversion.core.config import DEVELOPMENT_SECRET_KEY


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

_SECRETS = sa.text("SELECT id, secret FROM second_factors ORDER BY id")
_SET = sa.text("UPDATE second_factors SET secret = :secret WHERE id = :id")


# Sealing the secrets of a live database under the published development key (`db upgrade`
# run without the service's SECRET_KEY) would leave every authenticator unusable once the
# service runs with its own key: refused, unless this is said to be meant (a developer's
# database).
DEVELOPMENT_KEY_MEANT = "DIVERSION_SEAL_WITH_DEVELOPMENT_KEY"


def upgrade():
    connection = op.get_bind()
    key = current_app.config["SECRET_KEY"]
    secrets = connection.execute(_SECRETS).all()
    if (secrets and key == DEVELOPMENT_SECRET_KEY
            and os.environ.get(DEVELOPMENT_KEY_MEANT) != "yes"):
        raise RuntimeError(
            f"second_factors holds {len(secrets)} authenticator secrets, and this migration "
            "seals them under SECRET_KEY, which is the published development key here: run "
            "`db upgrade` with the SECRET_KEY the service runs with (and DIVERSION_ENV="
            f"production), or, for a developer's own database, set {DEVELOPMENT_KEY_MEANT}=yes")
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=200), existing_nullable=False)
    for factor_id, secret in secrets:
        connection.execute(_SET, {"id": factor_id, "secret": seal(secret, secret_key=key)})


def downgrade():
    connection = op.get_bind()
    keys = (current_app.config["SECRET_KEY"],
            *(current_app.config.get("SECRET_KEY_FALLBACKS") or ()))
    opened = []
    for factor_id, sealed in connection.execute(_SECRETS).all():
        try:
            opened.append((factor_id, unseal(sealed, secret_keys=keys)[0]))
        except SealBroken:
            raise RuntimeError(f"second factor {factor_id}: no key (SECRET_KEY or "
                               "SECRET_KEY_FALLBACKS) opens its secret; nothing was "
                               "changed") from None
    for factor_id, secret in opened:
        connection.execute(_SET, {"id": factor_id, "secret": secret})
    with op.batch_alter_table('second_factors', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=200),
                              type_=sa.String(length=64), existing_nullable=False)
