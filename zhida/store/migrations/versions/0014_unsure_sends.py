"""unsure sends: claim fence, claim times and the provider called

A provider call whose outcome is unknown (a timeout after the request left, a
worker killed after its claim) leaves the row `unsure`: before any resend the
sender asks the provider whether the message exists, so it needs the claim time
of that call (`unsure_since`, `claimed_at`) and which provider it went to
(`provider`, two providers with failover). `claims` numbers the claims so every
write of a sender is fenced to its own claim. The partial index of waiting rows
covers `unsure` too.

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'deferred', 'sending')"
NEW = "status IN ('queued', 'deferred', 'sending', 'unsure')"


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("claims", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unsure_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False,
                              postgresql_where=sa.text(NEW), sqlite_where=sa.text(NEW))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False,
                              postgresql_where=sa.text(OLD), sqlite_where=sa.text(OLD))
        batch_op.drop_column("unsure_since")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claims")
        batch_op.drop_column("provider")
