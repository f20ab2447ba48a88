"""Profiles in the store: JSON per row (with typed columns generated from it, see
`zhida.store.typed`), loaded back as typed polars frames by id range."""

from __future__ import annotations

import datetime as dt
import json
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any, TypeVar

import polars as pl
import psycopg
from psycopg.sql import SQL, Composable
from sqlalchemy import Engine, Select, String, select, text, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool, QueuePool

from zhida.profiles.readers import polars_dtype
from zhida.profiles.schema import FieldType, ProfileSchema
from zhida.store.models import Profile
from zhida.store.typed import TYPED_FIELDS, column_name

T = TypeVar("T")
_Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]  # another backend


def to_json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def profile_json(row: dict[str, Any]) -> dict[str, Any]:
    """A typed profile row as stored JSON: dates as YYYY-MM-DD, missing values left out."""
    return {k: to_json_value(v) for k, v in row.items() if v is not None and k != "kind"}


def stored_profile(profile_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """The stored form of one profile (the one home of it): `profile_json` of its fields
    with its id inside, since a run reads the id from the data (`load_frame`)."""
    return {**profile_json(row), "id": profile_id}


def frame_from_json(rows: list[dict[str, Any]], schema: ProfileSchema) -> pl.DataFrame:
    """Typed frame (one column per schema field, in order) from stored JSON rows."""
    data: dict[str, list[Any]] = {name: [] for name in schema.fields}
    for row in rows:
        for name in schema.fields:
            data[name].append(row.get(name))
    columns = []
    for name, field in schema.fields.items():
        dtype = polars_dtype(field.type)
        if field.type is FieldType.DATE:
            series = pl.Series(name, data[name], dtype=pl.String).str.to_date(
                "%Y-%m-%d", strict=False
            )
        else:
            series = pl.Series(name, data[name], dtype=dtype, strict=False)
        columns.append(series)
    return pl.DataFrame(columns)


def _json_lines_frame(payload: bytes, schema: ProfileSchema) -> pl.DataFrame:
    if not payload or payload.isspace():
        return frame_from_json([], schema)
    read_as = {
        name: pl.String if f.type is FieldType.DATE else polars_dtype(f.type)
        for name, f in schema.fields.items()
    }
    raw = pl.read_ndjson(payload, schema=read_as)  # a given schema parses 2-4x faster
    dates = [name for name, f in schema.fields.items() if f.type is FieldType.DATE]
    return raw.with_columns(pl.col(d).str.to_date("%Y-%m-%d", strict=False) for d in dates)


def load_frame(
    session: Session,
    kind: str,
    schema: ProfileSchema,
    lo: str | None = None,
    hi: str | None = None,
    ids: Sequence[str] | None = None,
    fields: Iterable[str] | None = None,
    backends: int = 1,
) -> pl.DataFrame:
    """Profiles of one kind with lo <= id < hi (either bound optional; `ids`: only these),
    ordered by id: the built-in fields from their typed columns (`zhida.store.typed`), a
    pack's extensions parsed from the JSON. `fields`: only these fields of the schema
    and the id, in the schema's order (names not in it ignored); else every field.
    PostgreSQL: the next page is produced while one is parsed; `backends=2` reads a load
    of more than a page as two halves at once, the second on another connection, when
    that one sees the same rows (`_second_backend`)."""
    conn = session.connection()
    if fields is not None:
        wanted = {"id", *fields}
        schema = ProfileSchema(
            schema.audience, {n: f for n, f in schema.fields.items() if n in wanted}
        )
    typed, extensions = _split(schema)
    if conn.dialect.name == "postgresql":
        raw_conn = conn.connection.driver_connection
        assert isinstance(raw_conn, psycopg.Connection)
        other = _second_backend(raw_conn, conn.engine) if backends > 1 else None
        frame = _pg_frame(raw_conn, kind, typed, extensions, lo, hi, ids, other)
    else:
        frame = _sqlite_frame(session, kind, typed, extensions, lo, hi, ids)
    return frame.select(list(schema.fields))


def _split(schema: ProfileSchema) -> tuple[dict[str, FieldType], ProfileSchema]:
    """The fields read from typed columns, and the others (a pack's, or a built-in name
    a pack gave another type), read from the JSON."""
    typed = {n: f.type for n, f in schema.fields.items() if TYPED_FIELDS.get(n) is f.type}
    rest = {n: f for n, f in schema.fields.items() if n not in typed}
    return typed, ProfileSchema(schema.audience, rest)


def _extension_json(extensions: ProfileSchema, dialect: str) -> str:
    """SQL for the JSON text of `data` without any built-in field read from a typed
    column (what is left to parse: a pack's fields, loaded or not)."""
    typed = [n for n in TYPED_FIELDS if n not in extensions.fields]
    if dialect == "postgresql":
        keys = ", ".join(f"'{n}'" for n in typed)
        return f"(data - ARRAY[{keys}]::text[])::text"
    return "json_remove(data, " + ", ".join(f"'$.{n}'" for n in typed) + ")"


def _pg_select(name: str, type_: FieldType) -> str:
    column = column_name(name)
    if type_ is FieldType.BOOL:
        return f"{column}::text"  # 'true' / 'false', which polars reads as booleans
    if type_ is FieldType.DATE:
        return f"{column} - DATE '1970-01-01'"  # days, whatever the server's DateStyle
    return column


def _pg_frame(
    raw_conn: psycopg.Connection[Any],
    kind: str,
    typed: dict[str, FieldType],
    extensions: ProfileSchema,
    lo: str | None,
    hi: str | None,
    ids: Sequence[str] | None,
    other: _Connect | None = None,
) -> pl.DataFrame:
    where: list[Composable] = [SQL("kind = {}").format(kind)]
    for clause, value in (("id = ANY({})", ids), ("id >= {}", lo), ("id < {}", hi)):
        if value is not None:
            where.append(
                SQL(clause).format(list(value) if clause.startswith("id = ANY") else value)
            )
    selects = [_pg_select(n, t) for n, t in typed.items()]
    read_as: dict[str, Any] = {
        n: pl.Int32 if t is FieldType.DATE else polars_dtype(t) for n, t in typed.items()
    }
    if extensions.fields:
        selects.append(_extension_json(extensions, "postgresql"))
        read_as[_EXTRA] = pl.String
    frames = _read_pages(
        raw_conn, SQL(", ".join(selects)), where, other, lambda page: _record_frame(page, read_as)
    )
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=read_as)
    frame = frame.with_columns(
        pl.col(n).cast(pl.Date) for n, t in typed.items() if t is FieldType.DATE
    )
    if not extensions.fields:
        return frame
    docs = frame.get_column(_EXTRA)
    lines = docs.str.join("\n").item().encode() if docs.len() else b""
    return pl.concat([frame.drop(_EXTRA), _json_lines_frame(lines, extensions)], how="horizontal")


PAGE_ROWS = 100_000  # profiles per query: ~20 MB of text at most for the built-in fields

# One text value per page of profiles: each one's row text `(0,field,...,0)`, a line
# each, in id order (an aggregate takes its ordered subquery's rows in order). Read as
# one value, not a row per profile as COPY sends them: a round through libpq and psycopg
# per row cost more than the rest of the load (0.15 against 0.03 CPU-s per 50k here).
_PAGE = SQL(
    "SELECT convert_to(string_agg(r, E'\\n'), 'UTF8'), count(*), max(pk) FROM ("
    "SELECT id AS pk, ROW(0, {fields}, 0)::text AS r FROM profiles "
    "WHERE {where} ORDER BY id LIMIT {limit}) AS page"
)


SPLIT_SAMPLE_PERCENT = 1.0  # of the table's blocks sampled to pick where the halves meet


def _pages(
    raw_conn: psycopg.Connection[Any], fields: SQL, where: list[Composable]
) -> Iterator[bytes]:
    """The text of each page of the rows `where` selects, in id order."""
    after: str | None = None
    cursor = raw_conn.cursor(binary=True)
    raw_conn.execute("SET LOCAL extra_float_digits = 3")  # floats printed exactly
    while True:
        bounds = where if after is None else [*where, SQL("id > {}").format(after)]
        cursor.execute(
            _PAGE.format(fields=fields, where=SQL(" AND ").join(bounds), limit=PAGE_ROWS)
        )
        text_, n, after = cursor.fetchone() or (None, 0, None)
        if text_:
            yield text_
        if n < PAGE_ROWS:
            return


def _read_pages(
    raw_conn: psycopg.Connection[Any],
    fields: SQL,
    where: list[Composable],
    other: _Connect | None,
    parse: Callable[[bytes], T],
) -> list[T]:
    """`parse` of each page of `_pages`, in id order; the database produces the next
    page while one is parsed (here, the caller's thread: libpq and polars release the
    GIL). With `other` and more than a page to read, the rows are read as two halves at
    once, split at a sampled median id: the first on this connection, the second on
    `other`'s; a page is parsed as it comes, from either."""
    halves: list[tuple[list[Composable], _Connect]] = [(where, lambda: nullcontext(raw_conn))]
    split = _median_id(raw_conn, where) if other is not None else None
    if split is not None and other is not None:
        halves = [
            ([*where, SQL("id < {}").format(split)], halves[0][1]),
            ([*where, SQL("id >= {}").format(split)], other),
        ]
    arrived: queue.Queue[tuple[int, int, bytes | BaseException | None]] = queue.Queue()

    def read(k: int) -> None:
        bounds, connect = halves[k]
        try:
            with ExitStack() as stack:
                try:
                    c = stack.enter_context(connect())
                except Exception:
                    if k == 0:
                        raise
                    arrived.put((k, _LATER, None))  # no other connection: this one, after
                    return
                for seq, text_ in enumerate(_pages(c, fields, bounds)):
                    arrived.put((k, seq, text_))
        except BaseException as err:  # handed to the caller's thread, raised there
            arrived.put((k, -1, err))
        finally:
            arrived.put((k, -1, None))

    parsed: dict[tuple[int, int], T] = {}
    later: list[int] = []
    with ThreadPoolExecutor(len(halves)) as pool:
        for k in range(len(halves)):
            pool.submit(read, k)
        running = len(halves)
        while running:
            k, seq, item = arrived.get()
            if isinstance(item, BaseException):
                raise item
            if item is not None:
                parsed[k, seq] = parse(item)
            elif seq == _LATER:
                later.append(k)
            else:
                running -= 1
    for k in later:
        for seq, text_ in enumerate(_pages(raw_conn, fields, halves[k][0])):
            parsed[k, seq] = parse(text_)
    return [parsed[key] for key in sorted(parsed)]


_LATER = -2  # a half whose connection could not be had, to read on the caller's


def _median_id(raw_conn: psycopg.Connection[Any], where: list[Composable]) -> Any:
    """An id near the middle of the rows `where` selects, from a sample of the table's
    blocks; None when the sample holds no more than a page of them."""
    got = raw_conn.execute(
        SQL(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id), count(*) FROM profiles"
            " TABLESAMPLE SYSTEM ({pct}) REPEATABLE (0) WHERE {where}"
        ).format(pct=SPLIT_SAMPLE_PERCENT, where=SQL(" AND ").join(where))
    ).fetchone()
    if got is None or got[1] * 100 / SPLIT_SAMPLE_PERCENT <= PAGE_ROWS:
        return None
    return got[0]


def _second_backend(raw_conn: psycopg.Connection[Any], engine: Engine) -> _Connect | None:
    """Another connection of `engine` (its own backend) for a load, when it sees what
    this one does: this transaction has written nothing (so holds no row another cannot
    see) and reads at READ COMMITTED (each page a new snapshot anyway). Else None."""
    if not _pool_has_room(engine.pool):
        return None
    same = raw_conn.execute(
        "SELECT pg_current_xact_id_if_assigned() IS NULL"
        " AND current_setting('transaction_isolation') = 'read committed'"
    ).fetchone()
    if not (same and same[0]):
        return None

    @contextmanager
    def connect() -> Iterator[psycopg.Connection[Any]]:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert isinstance(driver, psycopg.Connection)
            try:
                yield driver
            finally:
                driver.rollback()

    return connect


def _pool_has_room(pool: Pool) -> bool:
    """Whether `pool` would hand out a connection now, without waiting. A full
    QueuePool blocks for its timeout (30 s by default); rather than that, the load is
    read whole on the caller's connection. (Should the last connection be taken between
    this look and the connect, the connect still waits, then `_read_pages` falls back.)"""
    if not isinstance(pool, QueuePool):
        return True
    limit = getattr(pool, "_max_overflow", -1)  # no public reader of it (SQLAlchemy 2.x)
    return pool.checkedin() > 0 or limit < 0 or pool.overflow() < limit


def _record_frame(page: bytes, read_as: dict[str, Any]) -> pl.DataFrame:
    """A page of row texts as a frame. A row's text is CSV but for its parentheses (the
    constant first and last fields absorb them) and the backslashes it doubles inside
    quotes (every value holding one is quoted), undone here."""
    schema = {"\x00open": pl.String, **read_as, "\x00close": pl.String}
    raw = pl.read_csv(page, has_header=False, new_columns=list(schema), schema=schema)
    strings = [n for n, t in read_as.items() if t == pl.String]
    return raw.select(
        pl.col(n).str.replace_all("\\\\", "\\", literal=True) if n in strings else pl.col(n)
        for n in read_as
    )


_EXTRA = "\x00extensions"  # the column of the extension JSON (no field has this name)


def _sqlite_frame(
    session: Session,
    kind: str,
    typed: dict[str, FieldType],
    extensions: ProfileSchema,
    lo: str | None,
    hi: str | None,
    ids: Sequence[str] | None,
) -> pl.DataFrame:
    table: Any = Profile.__table__
    columns: list[Any] = [  # dates as the text they are (parsed as the JSON reader did)
        type_coerce(table.c[column_name(n)], String)
        if t is FieldType.DATE
        else table.c[column_name(n)]
        for n, t in typed.items()
    ]
    if extensions.fields:
        columns.append(text(_extension_json(extensions, "sqlite")))
    stmt = _selected(select(*columns), kind, lo, hi, ids).order_by(Profile.id)
    values = list(zip(*session.execute(stmt), strict=True)) or [() for _ in columns]
    series = []
    for (name, type_), got in zip(typed.items(), values, strict=False):
        if type_ is FieldType.DATE:
            s = pl.Series(name, got, dtype=pl.String, strict=False)
            series.append(s.str.to_date("%Y-%m-%d", strict=False))
        else:
            series.append(pl.Series(name, got, dtype=polars_dtype(type_), strict=False))
    frame = pl.DataFrame(series)
    if not extensions.fields:
        return frame
    rows = [json.loads(t) for t in values[-1]]
    return pl.concat([frame, frame_from_json(rows, extensions)], how="horizontal")


def _selected(
    stmt: Select[Any], kind: str, lo: str | None, hi: str | None, ids: Sequence[str] | None
) -> Select[Any]:
    stmt = stmt.where(Profile.kind == kind)
    if lo is not None:
        stmt = stmt.where(Profile.id >= lo)
    if hi is not None:
        stmt = stmt.where(Profile.id < hi)
    if ids is not None:
        stmt = stmt.where(Profile.id.in_(list(ids)))
    return stmt


def stored_ids(
    session: Session,
    kind: str,
    lo: str | None = None,
    hi: str | None = None,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """The ids of the profiles `load_frame` selects with the same arguments, by the
    profiles' own id column (not their data)."""
    return list(session.scalars(_selected(select(Profile.id), kind, lo, hi, ids)))


def get_profile(session: Session, profile_id: str) -> tuple[str, dict[str, Any]] | None:
    """(kind, JSON data) of one profile, or None."""
    row = session.get(Profile, profile_id)
    return None if row is None else (row.kind, dict(row.data))
