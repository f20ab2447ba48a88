"""run chunks of chosen profiles: the ids a chunk evaluates, when not an id range

An import re-evaluates only the profiles it changed, not the whole population: such
a run's chunks list their profile ids instead of covering an id range (NULL: the
chunk covers lo <= id < hi, as before).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("run_chunks") as batch:
        batch.add_column(sa.Column("ids", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_chunks") as batch:
        batch.drop_column("ids")
