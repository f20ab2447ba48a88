"""Importing profiles into the store: resolve each row, then one fast upsert.

Everything happens in the caller's session, so in one transaction: a failure
anywhere (a broken file, a database error, an interrupt) leaves nothing written.

- PostgreSQL: rows whose id the resolver found nowhere go by one streamed
  ``COPY`` straight into ``profiles`` (JSON encoded chunk by chunk while the
  server parses the previous one); the others by ``COPY`` into a temporary
  table, then ``UPDATE ... FROM`` it (only rows whose data would change) and
  ``INSERT ... ON CONFLICT (id) DO UPDATE`` for ids stored meanwhile.
- SQLite: ``executemany`` of ``INSERT ... ON CONFLICT (id) DO UPDATE``.

An update merges: the incoming fields replace the stored ones, fields the row
leaves empty keep their stored value (``data || incoming`` with nulls stripped).
Rows that the resolver merges into another profile are written to that profile's
id; each such link is recorded in the audit log (action ``profile.link``,
subject the incoming id, so a later import of the same id goes straight there).
Ambiguous rows become review items and are not written until a person accepts
(merge into the candidate) or rejects (a new profile) them.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import RowError, ZhidaError
from zhida.profiles.readers import ProfileBatch, read_profiles
from zhida.profiles.resolve import Action, StoreView, key_field, resolve
from zhida.profiles.schema import Audience, SchemaSet
from zhida.store.models import AuditLog, Profile, ReviewItem
from zhida.store.profiles import profile_json

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ImportReport",
    "SqlStoreView",
    "accept_review",
    "import_batch",
    "import_file",
    "insert_new_profiles",
    "list_reviews",
    "profile_json_column",
    "reject_review",
    "upsert_profiles",
]

DEFAULT_CHUNK_ROWS = 100_000
LINK_ACTION = "profile.link"
Progress = Callable[[int], None]


@dataclass
class ImportReport:
    """What an import did. `counts` has new, update, merge, review and conflict."""

    source: str
    file: str = ""
    rows_read: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # rows skipped for an id of another kind
    counts: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Action})
    timings: dict[str, float] = field(default_factory=dict)  # read, resolve, write (seconds)

    @property
    def written(self) -> int:
        c = self.counts
        return c["new"] + c["update"] + c["merge"]

    @property
    def bad_rows(self) -> int:
        return len(self.errors) + len(self.conflicts)


# =========================================================================== SQL helpers


def _json_text(dialect: str, column: str, name: str) -> str:
    """SQL for the text of JSON field `name` of `column`."""
    if dialect == "postgresql":
        return f"{column} ->> '{name}'"
    return f"json_extract({column}, '$.{name}')"


def _driver(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def _frame_query(conn: Connection, sql: str, params: dict[str, Any],
                 columns: list[str]) -> pl.DataFrame:
    """A query's rows as a frame of strings. PostgreSQL: one row of binary arrays, one per
    column (several times faster than a row per value for a million rows)."""
    schema = {c: pl.String for c in columns}
    if conn.dialect.name == "postgresql":
        pg_sql = sql
        for name in params:
            pg_sql = pg_sql.replace(f":{name}", f"%({name})s")
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        aggs = ", ".join(f"array_agg(c{i})" for i in range(len(columns)))
        cur = _driver(conn).cursor()
        cur.execute(f"SELECT {aggs} FROM ({pg_sql}) AS q({names})", params, binary=True)
        row = cur.fetchone()
        if row is None or row[0] is None:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame([pl.Series(c, v).cast(pl.String) for c, v in zip(columns, row,
                                                                             strict=True)])
    rows = conn.execute(text(sql), params).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _load_keys(conn: Connection, values: pl.Series) -> str:
    """Put `values` into a temporary one-column table (v) and return its name."""
    name = "zhida_import_keys"
    vals = values.drop_nulls().unique().cast(pl.String)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {name} (v text) ON COMMIT DROP"))
        conn.execute(text(f"TRUNCATE {name}"))
        cur = _driver(conn).cursor()
        data = pl.DataFrame({"v": vals}).write_csv(include_header=False).encode()
        with cur.copy(f"COPY {name} (v) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(data)
        conn.execute(text(f"ANALYZE {name}"))
    else:
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {name} (v text PRIMARY KEY)"))
        conn.execute(text(f"DELETE FROM {name}"))
        cur = _driver(conn).cursor()
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
        return _frame_query(self.conn, f"SELECT p.id, p.kind FROM profiles p JOIN {keys} k "
                            "ON p.id = k.v", {}, ["id", "kind"])

    def aliases(self, ids: pl.Series) -> pl.DataFrame:
        if not self._any("links", "SELECT 1 FROM audit_log WHERE action = :a LIMIT 1",
                         {"a": LINK_ACTION}):
            return pl.DataFrame(schema={"id": pl.String, "target": pl.String})
        keys = _load_keys(self.conn, ids)
        target = _json_text(self.dialect, "a.detail", "target")
        links = _frame_query(
            self.conn,
            f"SELECT a.subject, p.id, a.id FROM audit_log a JOIN {keys} k ON a.subject = k.v "
            f"JOIN profiles p ON p.id = {target} WHERE a.action = :action",
            {"action": LINK_ACTION}, ["id", "target", "seq"])
        return (links.with_columns(pl.col("seq").cast(pl.Int64)).sort("seq")
                .group_by("id").agg(pl.col("target").last()))  # the latest link wins

    def key_owners(self, kind: Audience, keys: pl.Series) -> pl.DataFrame:
        if not self._any(f"kind:{kind}", "SELECT 1 FROM profiles WHERE kind = :k LIMIT 1",
                         {"k": Audience(kind).value}):
            return pl.DataFrame(schema={"key": pl.String, "id": pl.String})
        table = _load_keys(self.conn, keys)
        key = _json_text(self.dialect, "p.data", key_field(kind))
        return _frame_query(
            self.conn,
            f"SELECT {key}, min(p.id) FROM profiles p JOIN {table} k ON {key} = k.v "
            f"WHERE p.kind = :kind GROUP BY {key}",
            {"kind": Audience(kind).value}, ["key", "id"])

    def candidates(self, kind: Audience) -> pl.DataFrame:
        cols = ["uscc", "name", "region", "phone"]
        if not self._any(f"kind:{kind}", "SELECT 1 FROM profiles WHERE kind = :k LIMIT 1",
                         {"k": Audience(kind).value}):
            return pl.DataFrame(schema={c: pl.String for c in ["id", *cols]})
        fields = ", ".join(_json_text(self.dialect, "data", c) for c in cols)
        return _frame_query(self.conn, f"SELECT id, {fields} FROM profiles WHERE kind = :kind",
                            {"kind": Audience(kind).value}, ["id", *cols])


# =========================================================================== writing


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
        encoded.gather(idx).str.replace_all(_NULL_MEMBER, "")
        .str.replace(_NULL_FIRST, "{,").str.replace(r"^\{,\}?", "{")
        .str.replace(r"^\{$", "{}")
    )
    return encoded.scatter(idx, fixed)


def _csv_chunks(rows: pl.DataFrame, chunk_rows: int,
                source: str | None = None) -> Iterator[tuple[int, bytes]]:
    """CSV chunks of (id, kind, data[, source]). Without a `data` column, every column
    but `kind` is a profile field and the JSON is encoded here, chunk by chunk."""
    for start in range(0, rows.height, chunk_rows):
        chunk = rows.slice(start, chunk_rows)
        if "data" in chunk.columns:
            data = chunk.get_column("data").cast(pl.String)
        else:
            data = profile_json_column(chunk.drop("kind"))
        cols = [chunk.get_column("id").cast(pl.String), chunk.get_column("kind").cast(pl.String),
                data.alias("data")]
        if source is not None:
            cols.append(pl.Series("source", [source] * chunk.height, dtype=pl.String))
        buf = io.BytesIO()
        pl.DataFrame(cols).write_csv(buf, include_header=False)
        yield chunk.height, buf.getvalue()


def insert_new_profiles(session: Session, rows: pl.DataFrame, source: str,
                        progress: Progress | None = None,
                        chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
    """Insert profiles whose ids are not stored yet (rows as for `upsert_profiles`).

    PostgreSQL: one streamed COPY straight into the table (the server parses a
    chunk while the next is encoded); an id that another session stored meanwhile
    fails the whole transaction. SQLite: the same as `upsert_profiles`.
    """
    if rows.height == 0:
        return 0
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return upsert_profiles(session, rows, source, progress, chunk_rows)
    cur = _driver(conn).cursor()
    with cur.copy("COPY profiles (id, kind, data, source) FROM STDIN WITH (FORMAT csv)",
                  writer=QueuedLibpqWriter(cur)) as copy:
        for n, data in _csv_chunks(rows, chunk_rows, source):
            copy.write(data)
            if progress is not None:
                progress(n)
    return rows.height


def upsert_profiles(session: Session, rows: pl.DataFrame, source: str,
                    progress: Progress | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
    """Insert or update profiles from a frame with columns id, kind and either data
    (JSON text) or the typed profile fields (as `read_profiles` makes them).

    Ids must be unique within `rows`. Null fields in `data` are dropped; on an
    existing id the incoming fields update the stored ones and the others stay
    (a row whose data would not change is left alone, updated_at and source too).
    A stored profile of another kind is left alone. `progress(n)` is called after
    each chunk of n rows. Returns the number of rows sent.
    """
    if rows.height == 0:
        return 0
    conn = session.connection()
    cur = _driver(conn).cursor()
    if conn.dialect.name == "postgresql":
        # all rows into one staging table, then one statement: the join that finds the rows
        # that change scans the stored profiles once
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {_PG_STAGE} "
                          "(id text, kind text, data jsonb) ON COMMIT DROP"))
        conn.execute(text(f"TRUNCATE {_PG_STAGE}"))
        with cur.copy(f"COPY {_PG_STAGE} (id, kind, data) FROM STDIN WITH (FORMAT csv)",
                      writer=QueuedLibpqWriter(cur)) as copy:
            for n, data in _csv_chunks(rows, chunk_rows):
                copy.write(data)
                if progress is not None:
                    progress(n)
        cur.execute(f"ANALYZE {_PG_STAGE}")
        scalars_only = "data" not in rows.columns and not any(
            isinstance(t, pl.List) for t in rows.schema.values())
        changed = _CHANGED_SCALARS if scalars_only else _CHANGED_ANY
        cur.execute(_PG_UPDATE.format(changed=changed), {"source": source})
        cur.execute(_PG_INSERT, {"source": source})
        conn.execute(text(f"TRUNCATE {_PG_STAGE}"))
    else:
        stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
        for start in range(0, rows.height, chunk_rows):
            chunk = rows.slice(start, chunk_rows)
            docs = (chunk.get_column("data") if "data" in chunk.columns
                    else profile_json_column(chunk.drop("kind")))
            cur.executemany(_SQLITE_UPSERT, ((i, k, d, source, stamp) for i, k, d in zip(
                chunk.get_column("id").to_list(), chunk.get_column("kind").to_list(),
                docs.to_list(), strict=True)))
            if progress is not None:
                progress(chunk.height)
    return rows.height


# =========================================================================== importing


def import_file(session: Session, path: str | Path, schemas: SchemaSet | None = None, *,
                kind: Audience | str | None = None, source: str | None = None,
                progress: Progress | None = None,
                chunk_rows: int = DEFAULT_CHUNK_ROWS) -> ImportReport:
    """Read, validate, resolve and write one profile file (CSV, JSON Lines, Parquet).

    A file that cannot be read at all raises ProfileDataError before anything is
    written; bad rows are reported in the result and skipped. `source` defaults
    to the file name.
    """
    start = time.perf_counter()
    batch = read_profiles(path, schemas or SchemaSet.builtin(), kind)
    read_s = time.perf_counter() - start
    report = import_batch(session, batch, source or Path(path).name, file=str(path),
                          progress=progress, chunk_rows=chunk_rows)
    report.timings = {"read": read_s, **report.timings}
    return report


def import_batch(session: Session, batch: ProfileBatch, source: str, *, file: str = "",
                 progress: Progress | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> ImportReport:
    """Resolve and write rows already read by `read_profiles` (see `import_file`)."""
    report = ImportReport(source=source, file=file, rows_read=batch.rows_read,
                          errors=list(batch.errors), warnings=list(batch.warnings))
    store: StoreView = SqlStoreView(session)
    t0 = time.perf_counter()
    plans: list[tuple[Audience, pl.DataFrame, pl.DataFrame]] = []
    for aud, frame in batch.frames.items():
        if frame.height == 0:
            continue
        res = resolve(frame, aud, store)
        plans.append((aud, frame, res))
        for action, count in res.group_by("action").len().iter_rows():
            report.counts[action] += count
        for reason in res.filter(pl.col("action") == Action.CONFLICT.value)["reason"]:
            report.conflicts.append(f"{file or source}: error: {reason}")
    t1 = time.perf_counter()

    links: list[pl.DataFrame] = []
    reviews: list[tuple[dict[str, Any], pl.DataFrame]] = []
    writes: list[pl.DataFrame] = []  # per audience: kind, typed fields (id = target), new
    for aud, frame, res in plans:
        written = res.filter(pl.col("action").is_in(
            [Action.NEW.value, Action.UPDATE.value, Action.MERGE.value]))
        rows = frame.with_row_index("_row").join(
            written.select(pl.col("row").cast(pl.UInt32).alias("_row"), "target", "action"),
            on="_row", how="inner").sort("_row")
        writes.append(rows.select(
            pl.lit(aud.value, dtype=pl.String).alias("kind"),
            *(pl.col("target").alias(c) if c == "id" else pl.col(c) for c in frame.columns),
            (pl.col("action") == Action.NEW.value).alias("_new"),
            pl.int_range(pl.len()).over("target").alias("_round"),  # repeated targets: in order
        ))
        merged = res.filter(pl.col("action") == Action.MERGE.value).join(
            frame.select(pl.int_range(frame.height, dtype=pl.Int64).alias("row"),
                         pl.col("id").alias("incoming")), on="row")
        links.append(merged.select(
            pl.col("incoming").alias("subject"),
            pl.struct(pl.col("target"), pl.lit(aud.value).alias("kind"),
                      pl.lit(source).alias("source"), "rule", "score", "reason").alias("detail"),
        ))
        review = res.filter(pl.col("action") == Action.REVIEW.value)
        if review.height:
            review_rows = frame.with_row_index("row").join(
                review.select(pl.col("row").cast(pl.UInt32), "candidate", "score", "reason"),
                on="row").sort("row")
            reviews.append(({"kind": aud.value}, review_rows))

    for w in writes:
        rounds = w.get_column("_round").max()
        for rnd in range(int(rounds) + 1 if isinstance(rounds, int) else 0):
            part = w.filter(pl.col("_round") == rnd)
            if rnd == 0:  # ids the resolver found nowhere in the store: plain inserts
                insert_new_profiles(session, part.filter(pl.col("_new")).drop("_new", "_round"),
                                    source, progress, chunk_rows)
                part = part.filter(~pl.col("_new"))
            upsert_profiles(session, part.drop("_new", "_round"), source, progress, chunk_rows)
    _save_reviews(session, reviews, source)
    _insert_links(session, pl.concat(links) if links else pl.DataFrame())
    session.add(AuditLog(action="profile.import", subject=source[:200], detail={
        "file": file, "rows_read": report.rows_read, "bad_rows": report.bad_rows,
        "counts": dict(report.counts)}))
    session.flush()
    report.timings.update({"resolve": t1 - t0, "write": time.perf_counter() - t1})
    return report


def _insert_links(session: Session, links: pl.DataFrame) -> None:
    """Audit rows `profile.link` (subject: the incoming id; detail: a struct column)."""
    if links.height == 0:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(insert(AuditLog), [{"action": LINK_ACTION, **r}
                                           for r in links.to_dicts()])
        return
    session.flush()
    stamp = utcnow().isoformat()
    frame = links.select(
        pl.lit(stamp).alias("at"), pl.lit(LINK_ACTION).alias("action"), pl.col("subject"),
        pl.col("detail").struct.json_encode())
    cur = _driver(conn).cursor()
    with cur.copy("COPY audit_log (at, action, subject, detail) FROM STDIN WITH (FORMAT csv)",
                  writer=QueuedLibpqWriter(cur)) as copy:
        for start in range(0, frame.height, DEFAULT_CHUNK_ROWS):
            buf = io.BytesIO()
            frame.slice(start, DEFAULT_CHUNK_ROWS).write_csv(buf, include_header=False)
            copy.write(buf.getvalue())


def _save_reviews(session: Session, reviews: list[tuple[dict[str, Any], pl.DataFrame]],
                  source: str) -> None:
    """New review items; an open item for the same incoming id is replaced, not repeated."""
    if not reviews:
        return
    open_items = {
        str(inc.get("id")): item_id
        for item_id, inc in session.execute(
            select(ReviewItem.id, ReviewItem.incoming).where(ReviewItem.status == "open"))
    }
    fresh: list[dict[str, Any]] = []
    for extra, frame in reviews:
        for r in frame.iter_rows(named=True):
            meta = {k: r.pop(k) for k in ("row", "candidate", "score", "reason")}
            incoming = {**profile_json(r), **extra}
            values = {"incoming": incoming, "candidate_id": meta["candidate"],
                      "score": float(meta["score"] or 0.0), "reason": meta["reason"] or "",
                      "source": source[:200]}
            old = open_items.get(str(incoming.get("id")))
            if old is not None:
                item = session.get(ReviewItem, old)
                assert item is not None
                for k, v in values.items():
                    setattr(item, k, v)
                item.created_at = utcnow()
            else:
                fresh.append({**values, "status": "open"})
    if fresh:
        session.execute(insert(ReviewItem), fresh)


# =========================================================================== review


def list_reviews(session: Session, status: str | None = "open") -> list[ReviewItem]:
    """Review items, oldest first; `status=None` lists all."""
    stmt = select(ReviewItem).order_by(ReviewItem.id)
    if status is not None:
        stmt = stmt.where(ReviewItem.status == status)
    return list(session.scalars(stmt))


def _open_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ZhidaError(f"no review item {item_id}")
    if item.status != "open":
        raise ZhidaError(f"review item {item_id} is already closed ({item.status})")
    return item


def _write_one(session: Session, profile_id: str, kind: str, data: dict[str, Any],
               source: str) -> None:
    body = {**data, "id": profile_id}
    body.pop("kind", None)
    upsert_profiles(session, pl.DataFrame({"id": [profile_id], "kind": [kind],
                                           "data": [json.dumps(body, ensure_ascii=False)]}),
                    source)


def accept_review(session: Session, item_id: int, officer_id: int | None = None) -> str:
    """Merge the item's incoming row into its candidate; returns the candidate's id."""
    item = _open_item(session, item_id)
    incoming = dict(item.incoming)
    kind = str(incoming.get("kind", Audience.ENTERPRISE.value))
    target = item.candidate_id
    stored = session.get(Profile, target) if target else None
    if target is None or stored is None:
        raise ZhidaError(f"review item {item_id}: the candidate profile {target} no "
                         "longer exists; reject the item to create a new profile")
    if stored.kind != kind:
        raise ZhidaError(f"review item {item_id}: the candidate {target} is a "
                         f"{stored.kind} profile, the incoming row a {kind} one")
    _write_one(session, target, kind, incoming, item.source)
    item.status = "merged"
    incoming_id = str(incoming.get("id", ""))
    detail = {"item": item_id, "incoming": incoming_id, "target": target, "score": item.score,
              "source": item.source}
    session.add_all([
        AuditLog(officer_id=officer_id, action="review.accept", subject=f"review:{item_id}",
                 detail=detail),
        AuditLog(officer_id=officer_id, action=LINK_ACTION, subject=incoming_id,
                 detail={"target": target, "kind": kind, "source": item.source,
                         "rule": "review", "score": item.score, "reason": item.reason}),
    ])
    session.flush()
    session.expire(stored)
    return target


def reject_review(session: Session, item_id: int, officer_id: int | None = None) -> str:
    """Not the candidate: store the incoming row as a new profile; returns its id."""
    item = _open_item(session, item_id)
    incoming = dict(item.incoming)
    kind = str(incoming.get("kind", Audience.ENTERPRISE.value))
    new_id = str(incoming.get("id", ""))
    if not new_id:
        raise ZhidaError(f"review item {item_id} has no incoming id")
    existing = session.get(Profile, new_id)
    if existing is not None and existing.kind != kind:
        raise ZhidaError(f"review item {item_id}: id {new_id} is already a "
                         f"{existing.kind} profile")
    _write_one(session, new_id, kind, incoming, item.source)
    item.status = "created"
    session.add(AuditLog(officer_id=officer_id, action="review.reject",
                         subject=f"review:{item_id}",
                         detail={"item": item_id, "incoming": new_id,
                                 "candidate": item.candidate_id, "score": item.score,
                                 "source": item.source}))
    session.flush()
    if existing is not None:
        session.expire(existing)
    return new_id
