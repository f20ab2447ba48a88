"""inbound messages: the ids of inbound SMS already acted on

A signed inbound request replayed (the same MessageSid) must not opt a number in
or out again, so the ids of the inbound messages acted on are kept.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
