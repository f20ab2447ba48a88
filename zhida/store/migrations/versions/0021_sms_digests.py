"""SMS digests: a notification row may be a member of another row's digest

The SMS planned for one recipient while an earlier one is still waiting are sent
with it as one message: their `digest_id` names that lead row, their status is
`digest` until they follow the lead's. The partial index finds a lead's members;
the partial index of waiting rows covers `digest` too (the sweeper's orphans).

Revision ID: 0021
Revises: 0020
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

MEMBERS = "digest_id IS NOT NULL"
OLD = "status IN ('queued', 'deferred', 'sending', 'unsure')"
NEW = "status IN ('queued', 'deferred', 'sending', 'unsure', 'digest')"


def _waiting_index(batch_op: Any, where: str) -> None:
    batch_op.drop_index("ix_notifications_due")
    batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False,
                          postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_notifications_digest", ["digest_id"], unique=False,
                              postgresql_where=sa.text(MEMBERS), sqlite_where=sa.text(MEMBERS))
        _waiting_index(batch_op, NEW)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        _waiting_index(batch_op, OLD)
        batch_op.drop_index("ix_notifications_digest")
        batch_op.drop_column("digest_id")
