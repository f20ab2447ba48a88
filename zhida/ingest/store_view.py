"""The entity resolver's questions (`zhida.profiles.resolve.StoreView`) answered from the
profiles and audit_log tables, in the caller's session, and the SQL helpers they need."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from zhida.profiles.resolve import key_field
from zhida.profiles.schema import Audience

#: the audit action that records a merge: subject the incoming id, detail.target the profile
LINK_ACTION = "profile.link"


def _json_text(dialect: str, column: str, name: str) -> str:
    """SQL for the text of JSON field `name` of `column`."""
    if dialect == "postgresql":
        return f"{column} ->> '{name}'"
    return f"json_extract({column}, '$.{name}')"


def driver(conn: Connection) -> Any:
    """The DBAPI connection (psycopg or sqlite3) under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def _frame_query(
    conn: Connection, sql: str, params: dict[str, Any], columns: list[str]
) -> pl.DataFrame:
    """A query's rows as a frame of strings. PostgreSQL: one row of binary arrays, one per
    column (several times faster than a row per value for a million rows)."""
    schema = {c: pl.String for c in columns}
    if conn.dialect.name == "postgresql":
        pg_sql = sql
        for name in params:
            pg_sql = pg_sql.replace(f":{name}", f"%({name})s")
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        aggs = ", ".join(f"array_agg(c{i})" for i in range(len(columns)))
        cur = driver(conn).cursor()
        cur.execute(f"SELECT {aggs} FROM ({pg_sql}) AS q({names})", params, binary=True)
        row = cur.fetchone()
        if row is None or row[0] is None:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame(
            [pl.Series(c, v).cast(pl.String) for c, v in zip(columns, row, strict=True)]
        )
    rows = conn.execute(text(sql), params).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _load_keys(conn: Connection, values: pl.Series) -> str:
    """Put `values` into a temporary one-column table (v) and return its name."""
    name = "zhida_import_keys"
    vals = values.drop_nulls().unique().cast(pl.String)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {name} (v text) ON COMMIT DROP"))
        conn.execute(text(f"TRUNCATE {name}"))
        cur = driver(conn).cursor()
        data = pl.DataFrame({"v": vals}).write_csv(include_header=False).encode()
        with cur.copy(f"COPY {name} (v) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(data)
        conn.execute(text(f"ANALYZE {name}"))
    else:
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {name} (v text PRIMARY KEY)"))
        conn.execute(text(f"DELETE FROM {name}"))
        cur = driver(conn).cursor()
        cur.executemany(f"INSERT INTO {name} (v) VALUES (?)", ((v,) for v in vals.to_list()))
    return name


class SqlStoreView:
    """The resolver's questions answered from the profiles and audit_log tables."""

    def __init__(self, session: Session):
        self.conn = session.connection()
        self.dialect = self.conn.dialect.name
        self._has: dict[str, bool] = {}

    def _any(self, what: str, sql: str, params: dict[str, Any] | None = None) -> bool:
        """Cached: does the query return a row? (skips lookups in an empty store)"""
        if what not in self._has:
            self._has[what] = self.conn.execute(text(sql), params or {}).first() is not None
        return self._has[what]

    def existing(self, ids: pl.Series) -> pl.DataFrame:
        if not self._any("profiles", "SELECT 1 FROM profiles LIMIT 1"):
            return pl.DataFrame(schema={"id": pl.String, "kind": pl.String})
        keys = _load_keys(self.conn, ids)
        return _frame_query(
            self.conn,
            f"SELECT p.id, p.kind FROM profiles p JOIN {keys} k ON p.id = k.v",
            {},
            ["id", "kind"],
        )

    def aliases(self, ids: pl.Series) -> pl.DataFrame:
        if not self._any(
            "links", "SELECT 1 FROM audit_log WHERE action = :a LIMIT 1", {"a": LINK_ACTION}
        ):
            return pl.DataFrame(schema={"id": pl.String, "target": pl.String})
        keys = _load_keys(self.conn, ids)
        target = _json_text(self.dialect, "a.detail", "target")
        links = _frame_query(
            self.conn,
            f"SELECT a.subject, p.id, a.id FROM audit_log a JOIN {keys} k ON a.subject = k.v "
            f"JOIN profiles p ON p.id = {target} WHERE a.action = :action",
            {"action": LINK_ACTION},
            ["id", "target", "seq"],
        )
        return (
            links.with_columns(pl.col("seq").cast(pl.Int64))
            .sort("seq")
            .group_by("id")
            .agg(pl.col("target").last())
        )  # the latest link wins

    def key_owners(self, kind: Audience, keys: pl.Series) -> pl.DataFrame:
        if not self._any(
            f"kind:{kind}",
            "SELECT 1 FROM profiles WHERE kind = :k LIMIT 1",
            {"k": Audience(kind).value},
        ):
            return pl.DataFrame(schema={"key": pl.String, "id": pl.String})
        table = _load_keys(self.conn, keys)
        key = _json_text(self.dialect, "p.data", key_field(kind))
        return _frame_query(
            self.conn,
            f"SELECT {key}, min(p.id) FROM profiles p JOIN {table} k ON {key} = k.v "
            f"WHERE p.kind = :kind GROUP BY {key}",
            {"kind": Audience(kind).value},
            ["key", "id"],
        )

    def candidates(self, kind: Audience) -> pl.DataFrame:
        cols = ["uscc", "name", "region", "phone"]
        if not self._any(
            f"kind:{kind}",
            "SELECT 1 FROM profiles WHERE kind = :k LIMIT 1",
            {"k": Audience(kind).value},
        ):
            return pl.DataFrame(schema={c: pl.String for c in ["id", *cols]})
        fields = ", ".join(_json_text(self.dialect, "data", c) for c in cols)
        return _frame_query(
            self.conn,
            f"SELECT id, {fields} FROM profiles WHERE kind = :kind",
            {"kind": Audience(kind).value},
            ["id", *cols],
        )
