"""The JSON load of stored profiles, as `load_frame` read them before the typed columns
(main at 0020): the reference the typed load must equal, in tests and bench/."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.profiles.schema import ProfileSchema
from zhida.store.models import Profile
from zhida.store.profiles import _json_lines_frame, frame_from_json


def json_frame(session: Session, kind: str, schema: ProfileSchema) -> pl.DataFrame:
    """Every profile of `kind`, ordered by id, parsed from its JSON document."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        sql = (
            "COPY (SELECT data::text FROM profiles WHERE kind = %s ORDER BY id) "
            "TO STDOUT (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
        )
        with raw.cursor().copy(sql, [kind]) as copy:
            payload = b"".join(copy)
        return _json_lines_frame(payload, schema)
    stmt = select(Profile.data).where(Profile.kind == kind).order_by(Profile.id)
    rows = [r if isinstance(r, dict) else json.loads(r) for r in session.scalars(stmt)]
    return frame_from_json(rows, schema)
