"""Profiles in the store: JSON per row (with typed columns generated from it, see
`zhida.store.typed`), loaded back as typed polars frames by id range."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl
import psycopg
from psycopg.sql import SQL, Composable
from sqlalchemy import Select, String, select, text, type_coerce
from sqlalchemy.orm import Session

from zhida.profiles.readers import polars_dtype
from zhida.profiles.schema import FieldType, ProfileSchema
from zhida.store.models import Profile
from zhida.store.typed import TYPED_FIELDS, column_name


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
) -> pl.DataFrame:
    """Profiles of one kind with lo <= id < hi (either bound optional; `ids`: only these),
    ordered by id: the built-in fields from their typed columns (`zhida.store.typed`), a
    pack's extensions parsed from the JSON. `fields`: only these fields of the schema
    and the id, in the schema's order (names not in it ignored); else every field."""
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
        frame = _pg_frame(raw_conn, kind, typed, extensions, lo, hi, ids)
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
    raw_conn.execute("SET LOCAL extra_float_digits = 3")  # floats printed exactly
    frames = [
        _record_frame(page, read_as) for page in _pages(raw_conn, SQL(", ".join(selects)), where)
    ]
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


def _pages(
    raw_conn: psycopg.Connection[Any], fields: SQL, where: list[Composable]
) -> Iterator[bytes]:
    after: str | None = None
    cursor = raw_conn.cursor(binary=True)
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
