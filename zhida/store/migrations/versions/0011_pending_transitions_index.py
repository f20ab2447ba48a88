"""pending transitions: a partial index on id where not yet notified

The planner reads pending transitions by id ranges. The old index on
(to_outcome, notified) matched every pending row, so each batch scanned all of
them; the partial index holds only pending rows and is ordered by id.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_transitions_new_eligible")
        batch_op.create_index("ix_transitions_pending", ["id"], unique=False,
                              postgresql_where=sa.text("notified IS false"),
                              sqlite_where=sa.text("notified IS 0"))


def downgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_transitions_pending")
        batch_op.create_index("ix_transitions_new_eligible", ["to_outcome", "notified"],
                              unique=False)
