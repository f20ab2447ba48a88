"""Bulk inserts that hand back the new ids: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session


def insert_with_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (dicts with the same keys) and return their new ids, in order.

    On PostgreSQL the ids are drawn from the table's sequence first and the rows go
    in with COPY (several times faster than a multi-row INSERT ... RETURNING)."""
    if not rows:
        return []
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        result = session.execute(insert(table).returning(table.c.id,
                                                         sort_by_parameter_order=True), rows)
        return [int(i) for i in result.scalars().all()]
    seq = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
    ids = [int(i) for i in session.execute(
        text("SELECT nextval(:s) FROM generate_series(1, :n)"),
        {"s": seq, "n": len(rows)}).scalars().all()]
    columns = ["id", *rows[0]]
    raw = conn.connection.driver_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor().copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for new_id, row in zip(ids, rows, strict=True):
            copy.write_row([new_id, *row.values()])
    return ids
