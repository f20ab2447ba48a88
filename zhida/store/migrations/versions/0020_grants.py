"""grants, declarations, disputes: what a profile does on /me

grants: 免申即享 decisions, each once per (profile, policy, version), exported once;
declarations: values a profile supplied itself (self-declared, verified later);
disputes: 「数据有误」 reports for an officer to correct or reject.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
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
    op.create_table(
        "declarations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", json_type, nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.Integer(), nullable=True),
    )
    op.create_index("ix_declarations_profile_id", "declarations", ["profile_id"])
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=100), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
    )
    op.create_index("ix_disputes_profile_id", "disputes", ["profile_id"])
    op.create_index("ix_disputes_status", "disputes", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_disputes_status", table_name="disputes")
    op.drop_index("ix_disputes_profile_id", table_name="disputes")
    op.drop_table("disputes")
    op.drop_index("ix_declarations_profile_id", table_name="declarations")
    op.drop_table("declarations")
    op.drop_index("ix_grants_export", table_name="grants")
    op.drop_index("ix_grants_profile_id", table_name="grants")
    op.drop_table("grants")
