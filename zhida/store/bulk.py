"""Bulk inserts that hand back the new ids: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def insert_tuples(
    target: Session | psycopg.Connection[Any],
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> list[int]:
    """Insert rows (value tuples in the order of `columns`) and return their new ids, in order.

    `target` is a session, or a psycopg connection (PostgreSQL) used directly, as the
    planner's writer thread does. On PostgreSQL the ids are drawn from the table's
    sequence first and the rows go in with COPY (several times faster than a multi-row
    INSERT ... RETURNING), binary when every column type has a binary mapping. Datetimes
    must be timezone-aware (a naive one is refused with TypeError rather than read in
    the session's zone)."""
    if not rows:
        return []
    if isinstance(target, Session):
        conn = target.connection()
        if conn.dialect.name != "postgresql":
            result = target.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True),
                [dict(zip(columns, row, strict=True)) for row in rows],
            )
            return [int(i) for i in result.scalars().all()]
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        target = raw
    return copy_with_ids(target, table, columns, rows)


def copy_with_ids(
    raw: psycopg.Connection[Any],
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> list[int]:
    # psycopg directly: through SQLAlchemy's result rows this took 6x longer
    ids = [
        row[0]
        for row in raw.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table.name, len(rows)),
        ).fetchall()
    ]
    names = ("id", *columns)
    types = binary_types(table, names)
    quoted = ", ".join(f'"{c}"' for c in names)
    options = " (FORMAT BINARY)" if types else ""
    with raw.cursor().copy(f'COPY "{table.name}" ({quoted}) FROM STDIN{options}') as copy:
        if types:
            copy.set_types(types)
        write = copy.write_row
        for new_id, row in zip(ids, rows, strict=True):
            write((new_id, *row))
    return ids


# SQLAlchemy's PostgreSQL type names -> the names psycopg's binary dumpers know
_BINARY = {
    "INTEGER": "int4",
    "SMALLINT": "int2",
    "BIGINT": "int8",
    "VARCHAR": "varchar",
    "TEXT": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BOOLEAN": "bool",
    "FLOAT": "float8",
    "DOUBLE PRECISION": "float8",
    "DATE": "date",
}


@functools.lru_cache(maxsize=64)
def binary_types(table: Table, columns: tuple[str, ...]) -> list[str] | None:
    """The binary COPY type of each column (about twice as fast as text COPY on both ends),
    or None when one has a type without a mapping here (then text COPY)."""
    types = []
    for name in columns:
        compiled = table.c[name].type.compile(dialect=postgresql.dialect())
        pg_type = _BINARY.get(compiled.split("(")[0])
        if pg_type is None:
            return None
        types.append(pg_type)
    return types
