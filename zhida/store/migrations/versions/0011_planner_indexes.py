"""planner indexes: pending transitions by id; partial notification indexes

The planner reads pending transitions (not notified, into eligible or unknown) by
id ranges. The old index on (to_outcome, notified) matched every pending row, so
each batch scanned all of them; the partial index holds only pending rows, ordered
by id. Transitions out of eligibility (to_outcome 0) are never notified and stay
out of it.

Notification indexes hold only the rows their queries ask for: due rows that may
still be sent (queued, deferred, sending), SMS recipients (the frequency cap), and
rows that have a provider reference (receipts). In-app rows, which are half of
all rows, and finished SMS stay out of them. The index on application tokens by
profile had no query.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WAITING = "status IN ('queued', 'deferred', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_transitions_new_eligible")
        batch_op.create_index("ix_transitions_pending", ["id"], unique=False,
                              postgresql_where=sa.text("notified IS false AND to_outcome > 0"),
                              sqlite_where=sa.text("notified IS 0 AND to_outcome > 0"))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_due")
        batch_op.drop_index("ix_notifications_recipient")
        batch_op.drop_index("ix_notifications_provider_ref")
        batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False,
                              postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
        batch_op.create_index("ix_notifications_recipient", ["to", "created_at"], unique=False,
                              postgresql_where=sa.text("channel = 'sms'"),
                              sqlite_where=sa.text("channel = 'sms'"))
        batch_op.create_index("ix_notifications_provider_ref", ["provider_ref"], unique=False,
                              postgresql_where=sa.text("provider_ref IS NOT NULL"),
                              sqlite_where=sa.text("provider_ref IS NOT NULL"))
    with op.batch_alter_table("application_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_application_tokens_profile_id")


def downgrade() -> None:
    with op.batch_alter_table("application_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_application_tokens_profile_id", ["profile_id"], unique=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_provider_ref")
        batch_op.drop_index("ix_notifications_recipient")
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index("ix_notifications_provider_ref", ["provider_ref"], unique=False)
        batch_op.create_index("ix_notifications_recipient", ["to", "channel", "created_at"],
                              unique=False)
        batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False)
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_transitions_pending")
        batch_op.create_index("ix_transitions_new_eligible", ["to_outcome", "notified"],
                              unique=False)
