"""grants: 免申即享 decisions, each once per (profile, policy, version), exported once

Revision ID: 0020
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("benefit", sa.Float(), nullable=True),
        sa.Column("record", json_type, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("profile_id", "policy_id", "policy_version_id", name="uq_grant_once"),
    )
    op.create_index("ix_grants_profile_id", "grants", ["profile_id"])
    op.create_index("ix_grants_export", "grants", ["policy_id", "decision", "exported_at"])


def downgrade() -> None:
    op.drop_index("ix_grants_export", table_name="grants")
    op.drop_index("ix_grants_profile_id", table_name="grants")
    op.drop_table("grants")
