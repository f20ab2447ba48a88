"""profiles: typed columns, one per built-in field, generated from the JSON data

Runs and previews read these instead of parsing each profile's JSON
(`zhida/store/typed.py`). PostgreSQL: STORED generated columns, added in one ALTER
TABLE (one rewrite of the table, which fills them from the existing data; the table
is locked meanwhile), over immutable SQL functions that take a JSON value in the
field's type. SQLite: VIRTUAL generated columns (SQLite cannot add stored ones),
computed when read.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from zhida.store.typed import PG_FUNCTIONS, PG_YMD, typed_columns

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_YMD)
        for _name, ddl in PG_FUNCTIONS.values():
            op.execute(ddl)
        dialect = postgresql.dialect()
        adds = ", ".join(
            f"ADD COLUMN {sa.schema.CreateColumn(c).compile(dialect=dialect)}"
            for c in typed_columns(stored=True)
        )
        op.execute(f"ALTER TABLE profiles {adds}")
    else:
        for column in typed_columns(stored=False):
            op.add_column("profiles", column)


def downgrade() -> None:
    names = [c.name for c in typed_columns()]
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE profiles " + ", ".join(f"DROP COLUMN {n}" for n in names))
        for name, _ddl in PG_FUNCTIONS.values():
            op.execute(f"DROP FUNCTION {name}(jsonb)")
        op.execute("DROP FUNCTION zhida_ymd(int, int, int)")
    else:
        for name in names:
            op.drop_column("profiles", name)
