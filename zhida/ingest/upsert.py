"""Writing profile rows: the fast paths of an import (COPY on PostgreSQL, executemany on
SQLite), in the caller's session.

An update merges: the incoming fields replace the stored ones, fields the row leaves
empty keep their stored value (``data || incoming`` with nulls stripped). A stored
profile of another kind is never overwritten.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.ingest.store_view import driver

DEFAULT_CHUNK_ROWS = 100_000
Progress = Callable[[int], None]


_PG_STAGE = "zhida_import_rows"
# PostgreSQL upsert from the staging table, in two statements: an UPDATE joined to the
# staging table for stored ids (cheaper than INSERT ... ON CONFLICT, which first tries to
# insert every row), then an INSERT of the ids not stored (ON CONFLICT covers an id that
# another session inserts meanwhile). Rows that would change nothing are not updated at
# all. `data || new` equals `data` exactly when `data @> new` as long as no value is an
# array (containment is "subset" on arrays), and containment is much cheaper.
_PG_UPDATE = f"""
UPDATE profiles p SET data = p.data || jsonb_strip_nulls(s.data), source = %(source)s,
    updated_at = now()
FROM {_PG_STAGE} s
WHERE p.id = s.id AND p.kind = s.kind AND {{changed}}
"""
_PG_INSERT = f"""
INSERT INTO profiles (id, kind, data, source, updated_at)
SELECT s.id, s.kind, jsonb_strip_nulls(s.data), %(source)s, now() FROM {_PG_STAGE} s
WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = s.id)
ON CONFLICT (id) DO UPDATE
SET data = profiles.data || EXCLUDED.data, source = EXCLUDED.source,
    updated_at = EXCLUDED.updated_at
WHERE profiles.kind = EXCLUDED.kind
"""
_CHANGED_SCALARS = "NOT p.data @> s.data"
_CHANGED_ANY = "p.data <> p.data || jsonb_strip_nulls(s.data)"
_SQLITE_UPSERT = """
INSERT INTO profiles (id, kind, data, source, updated_at)
VALUES (?, ?, json_patch('{}', ?), ?, ?)
ON CONFLICT (id) DO UPDATE
SET data = json_patch(profiles.data, excluded.data), source = excluded.source,
    updated_at = excluded.updated_at
WHERE profiles.kind = excluded.kind
  AND json(profiles.data) <> json_patch(profiles.data, excluded.data)
"""
# top-level `"field":null` members; field names are identifiers, and a `"` inside a JSON
# string is always escaped, so these patterns cannot match inside a value
_NULL_MEMBER = r',"[A-Za-z_][A-Za-z0-9_]*":null'
_NULL_FIRST = r'^\{"[A-Za-z_][A-Za-z0-9_]*":null(?:,|\})'


def profile_json_column(frame: pl.DataFrame) -> pl.Series:
    """Each row of a typed profile frame as stored JSON text (as `profile_json` makes it:
    dates as YYYY-MM-DD, missing values left out)."""
    encoded = frame.select(pl.struct(pl.all()).struct.json_encode().alias("data")).to_series()
    has_null = encoded.str.contains('":null', literal=True)
    if not has_null.any():
        return encoded
    idx = has_null.arg_true()
    fixed = (
        encoded.gather(idx)
        .str.replace_all(_NULL_MEMBER, "")
        .str.replace(_NULL_FIRST, "{,")
        .str.replace(r"^\{,\}?", "{")
        .str.replace(r"^\{$", "{}")
    )
    return encoded.scatter(idx, fixed)


def _csv_chunks(
    rows: pl.DataFrame, chunk_rows: int, source: str | None = None
) -> Iterator[tuple[int, bytes]]:
    """CSV chunks of (id, kind, data[, source]). Without a `data` column, every column
    but `kind` is a profile field and the JSON is encoded here, chunk by chunk."""
    for start in range(0, rows.height, chunk_rows):
        chunk = rows.slice(start, chunk_rows)
        if "data" in chunk.columns:
            data = chunk.get_column("data").cast(pl.String)
        else:
            data = profile_json_column(chunk.drop("kind"))
        cols = [
            chunk.get_column("id").cast(pl.String),
            chunk.get_column("kind").cast(pl.String),
            data.alias("data"),
        ]
        if source is not None:
            cols.append(pl.Series("source", [source] * chunk.height, dtype=pl.String))
        buf = io.BytesIO()
        pl.DataFrame(cols).write_csv(buf, include_header=False)
        yield chunk.height, buf.getvalue()


def insert_new_profiles(
    session: Session,
    rows: pl.DataFrame,
    source: str,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    changed: list[str] | None = None,
) -> int:
    """Insert profiles whose ids are not stored yet (rows as for `upsert_profiles`).

    PostgreSQL: one streamed COPY straight into the table (the server parses a
    chunk while the next is encoded); an id that another session stored meanwhile
    fails the whole transaction. SQLite: the same as `upsert_profiles`.
    """
    if rows.height == 0:
        return 0
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return upsert_profiles(session, rows, source, progress, chunk_rows, changed)
    cur = driver(conn).cursor()
    with cur.copy(
        "COPY profiles (id, kind, data, source) FROM STDIN WITH (FORMAT csv)",
        writer=QueuedLibpqWriter(cur),
    ) as copy:
        for n, data in _csv_chunks(rows, chunk_rows, source):
            copy.write(data)
            if progress is not None:
                progress(n)
    if changed is not None:
        changed.extend(rows.get_column("id").to_list())
    return rows.height


def upsert_profiles(
    session: Session,
    rows: pl.DataFrame,
    source: str,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    changed: list[str] | None = None,
) -> int:
    """Insert or update profiles from a frame with columns id, kind and either data
    (JSON text) or the typed profile fields (as `read_profiles` makes them).
    `changed`, when given, receives the ids of the rows inserted or changed.

    Ids must be unique within `rows`. Null fields in `data` are dropped; on an
    existing id the incoming fields update the stored ones and the others stay
    (a row whose data would not change is left alone, updated_at and source too).
    A stored profile of another kind is left alone. `progress(n)` is called after
    each chunk of n rows. Returns the number of rows sent.
    """
    if rows.height == 0:
        return 0
    conn = session.connection()
    cur = driver(conn).cursor()
    if conn.dialect.name == "postgresql":
        # all rows into one staging table, then one statement: the join that finds the rows
        # that change scans the stored profiles once
        conn.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS {_PG_STAGE} "
                "(id text, kind text, data jsonb) ON COMMIT DROP"
            )
        )
        conn.execute(text(f"TRUNCATE {_PG_STAGE}"))
        with cur.copy(
            f"COPY {_PG_STAGE} (id, kind, data) FROM STDIN WITH (FORMAT csv)",
            writer=QueuedLibpqWriter(cur),
        ) as copy:
            for n, data in _csv_chunks(rows, chunk_rows):
                copy.write(data)
                if progress is not None:
                    progress(n)
        cur.execute(f"ANALYZE {_PG_STAGE}")
        scalars_only = "data" not in rows.columns and not any(
            isinstance(t, pl.List) for t in rows.schema.values()
        )
        test = _CHANGED_SCALARS if scalars_only else _CHANGED_ANY
        update_sql, params = _PG_UPDATE.format(changed=test), {"source": source}
        if changed is None:
            cur.execute(update_sql, params)
            cur.execute(_PG_INSERT, params)
        else:
            for sql in (update_sql + "RETURNING p.id", _PG_INSERT + "RETURNING profiles.id"):
                cur.execute(sql, params)
                changed.extend(r[0] for r in cur.fetchall())
        conn.execute(text(f"TRUNCATE {_PG_STAGE}"))
    else:
        if changed is not None:
            _sqlite_watch(cur)
        stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
        for start in range(0, rows.height, chunk_rows):
            chunk = rows.slice(start, chunk_rows)
            docs = (
                chunk.get_column("data")
                if "data" in chunk.columns
                else profile_json_column(chunk.drop("kind"))
            )
            cur.executemany(
                _SQLITE_UPSERT,
                (
                    (i, k, d, source, stamp)
                    for i, k, d in zip(
                        chunk.get_column("id").to_list(),
                        chunk.get_column("kind").to_list(),
                        docs.to_list(),
                        strict=True,
                    )
                ),
            )
            if progress is not None:
                progress(chunk.height)
        if changed is not None:
            changed.extend(_sqlite_changed(cur))
    return rows.height


# SQLite has no RETURNING for executemany: temporary triggers note the ids that an
# INSERT or the upsert's UPDATE wrote (an upsert whose WHERE is false fires neither)
_SQLITE_CHANGED = "zhida_changed_ids"
_SQLITE_TRIGGERS = ("zhida_changed_insert", "zhida_changed_update")


def _sqlite_watch(cur: Any) -> None:
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_SQLITE_CHANGED} (id TEXT)")
    for name, event in zip(_SQLITE_TRIGGERS, ("INSERT", "UPDATE"), strict=True):
        cur.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {event} ON main.profiles "
            f"BEGIN INSERT INTO {_SQLITE_CHANGED} VALUES (new.id); END"
        )


def _sqlite_changed(cur: Any) -> list[str]:
    ids = [r[0] for r in cur.execute(f"SELECT DISTINCT id FROM {_SQLITE_CHANGED}").fetchall()]
    for name in _SQLITE_TRIGGERS:
        cur.execute(f"DROP TRIGGER IF EXISTS {name}")
    cur.execute(f"DROP TABLE {_SQLITE_CHANGED}")
    return ids
