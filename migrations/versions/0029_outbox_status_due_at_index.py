"""outbox: an index on (status, due_at), so the dashboard counts the last 30 days' undelivered
messages in one range whatever the history

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 23:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_outbox_messages_status_due_at', 'outbox_messages', ['status', 'due_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_outbox_messages_status_due_at', table_name='outbox_messages')
