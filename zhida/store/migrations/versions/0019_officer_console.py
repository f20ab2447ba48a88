"""officer console: passwords, token expiry, disabling officers, review comments

Officers sign in to the console with a name and a password (stored as an argon2
hash); their bearer tokens may expire; an admin can disable an officer without
deleting who did what. A rejected version keeps the reviewer's comment.

Revision ID: 0019
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officers") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("review_comment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("review_comment")
    with op.batch_alter_table("officers") as batch:
        batch.drop_column("active")
        batch.drop_column("token_expires_at")
        batch.drop_column("password_hash")
