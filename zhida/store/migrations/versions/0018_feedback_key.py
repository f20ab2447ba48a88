"""feedback key: imported feedback lines are recognised on re-import

`zhida feedback import` stores each line with a digest of its (profile, policy,
event, at, channel) in `key`, unique, so importing the same history twice adds
nothing. The system's own events leave it null (NULLs are distinct in the index on
both databases).

Revision ID: 0018
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_feedback_key", ["key"])


def downgrade() -> None:
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_feedback_key", type_="unique")
        batch_op.drop_column("key")
