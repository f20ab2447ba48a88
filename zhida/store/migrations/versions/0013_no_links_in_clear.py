"""no links in clear: SMS bodies composed at send time, links minted for their owner

An application link must be stored only as its token's hash (DESIGN, "Notifications").
The planner used to store every link in clear, in `notifications.link`,
`inbox_messages.link` and inside `notifications.body`, so a copy of the database
opened every application form. Now the SMS body is composed when it is sent (the
token minted then, only its hash kept, in `application_tokens`), and the inbox mints
a fresh link for its signed-in owner. This migration drops the two link columns and
clears the stored bodies of SMS rows (an in-app body names no link and stays).
`notifications.body_hash` keeps the SHA-256 of the text last handed to the provider,
so a message whose outcome is unknown can be matched against the provider's list.

Revision ID: 0013
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE notifications SET body = '' WHERE channel = 'sms'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("link")
        batch_op.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("link")


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.Text(), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("body_hash")
        batch_op.add_column(sa.Column("link", sa.Text(), nullable=True))
