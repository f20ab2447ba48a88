"""Typed columns of the stored profiles: each built-in field of either audience, derived
by the database from `profiles.data`.

`profiles.data` (JSON) stays the one truth that every writer merges into; these are
generated columns over it (PostgreSQL: STORED, filled on every write; SQLite: VIRTUAL,
computed on read), so no writer can leave them behind. Runs and previews read them
instead of parsing each profile's JSON (`load_frame`). A value is taken only when the
JSON holds the field's type (an int field holding 12.5 reads as null where the JSON
reader refused the whole load); dates as `YYYY-MM-DD` (also unpadded), checked against
the calendar. The id column is `data_id`, the id inside the data, which a run reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Computed, Date, Float, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeEngine

from zhida.profiles.schema import CITIZEN_FIELDS, ENTERPRISE_FIELDS, FieldType


def _typed_fields() -> dict[str, FieldType]:
    out: dict[str, FieldType] = {}
    for f in (*ENTERPRISE_FIELDS, *CITIZEN_FIELDS):
        assert out.setdefault(f.name, f.type) is f.type, f"{f.name}: two types"
    return out


# field name -> type, for every built-in field of either audience (the names are shared)
TYPED_FIELDS = _typed_fields()

_SA_TYPES: dict[FieldType, type[TypeEngine[Any]]] = {
    FieldType.STRING: Text,
    FieldType.INT: BigInteger,
    FieldType.NUMBER: Float,
    FieldType.BOOL: Boolean,
    FieldType.DATE: Date,
}


def column_name(field: str) -> str:
    """The typed column of a built-in field."""
    return "data_id" if field == "id" else field


class FieldValue(ColumnElement[Any]):
    """The value of one field of `data` in the field's type (compiled per dialect)."""

    inherit_cache = True

    def __init__(self, field: str, type_: FieldType) -> None:
        self.field, self.field_type = field, type_


@compiles(FieldValue, "postgresql")
def _pg(element: FieldValue, compiler: Any, **kw: Any) -> str:
    # written as PostgreSQL prints it back (pg_get_expr), so a comparison of the
    # migrations with the models finds nothing
    key = f"data -> '{element.field}'::text"
    if element.field_type is FieldType.STRING:
        return f"data ->> '{element.field}'::text"
    return f"{PG_FUNCTIONS[element.field_type][0]}({key})"


@compiles(FieldValue, "sqlite")
def _sqlite(element: FieldValue, compiler: Any, **kw: Any) -> str:
    path = f"'$.{element.field}'"
    kind = f"json_type(data, {path})"
    value = f"json_extract(data, {path})"
    match element.field_type:
        case FieldType.STRING:  # a number or bool as its JSON text, as the JSON reader
            return (
                f"CASE {kind} WHEN 'null' THEN NULL WHEN 'true' THEN 'true' "
                f"WHEN 'false' THEN 'false' ELSE {value} END"
            )
        case FieldType.INT:
            return f"CASE {kind} WHEN 'integer' THEN {value} END"
        case FieldType.NUMBER:
            return f"CASE WHEN {kind} IN ('integer', 'real') THEN {value} END"
        case FieldType.BOOL:
            return f"CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
        case _:  # DATE: the text, parsed when loaded (SQLite has no date type)
            return f"CASE {kind} WHEN 'text' THEN {value} END"


def typed_columns(stored: bool = True) -> list[Column[Any]]:
    """The generated columns of `profiles`, one per built-in field: STORED (PostgreSQL)
    or VIRTUAL (SQLite, which cannot add a stored one)."""
    return [
        Column(
            column_name(name),
            _SA_TYPES[t](),
            Computed(FieldValue(name, t), persisted=stored),
        )
        for name, t in TYPED_FIELDS.items()
    ]


# a calendar date, or null (the inner CASE runs only for a month that exists)
PG_YMD = """CREATE OR REPLACE FUNCTION zhida_ymd(y int, m int, d int) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN y >= 1 AND m BETWEEN 1 AND 12 AND d >= 1 THEN
  CASE WHEN d <= extract(day FROM make_date(y, m, 1) + interval '1 month' - interval '1 day')
  THEN make_date(y, m, d) END END
$$"""

# PostgreSQL: a JSON value in a field's type, or null when it holds another (immutable
# SQL functions, inlined into the generated columns' expressions)
PG_FUNCTIONS: dict[FieldType, tuple[str, str]] = {
    FieldType.INT: (
        "zhida_json_int",
        """CREATE OR REPLACE FUNCTION zhida_json_int(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN
  CASE WHEN scale(v::numeric) = 0
    AND v::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
  THEN v::numeric::bigint END END
$$""",
    ),
    FieldType.NUMBER: (
        "zhida_json_float",
        """CREATE OR REPLACE FUNCTION zhida_json_float(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN
  CASE WHEN v::numeric = 0
    OR abs(v::numeric) BETWEEN 2.5e-324 AND 1.7976931348623157e308
  THEN v::numeric::double precision END END
$$""",
    ),
    FieldType.BOOL: (
        "zhida_json_bool",
        """CREATE OR REPLACE FUNCTION zhida_json_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN v::boolean END
$$""",
    ),
    FieldType.DATE: (
        "zhida_json_date",
        r"""CREATE OR REPLACE FUNCTION zhida_json_date(v jsonb) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN jsonb_typeof(v) = 'string'
  AND (v #>> '{}') ~ '^ *[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$'
THEN zhida_ymd(split_part(ltrim(v #>> '{}'), '-', 1)::int,
  split_part(v #>> '{}', '-', 2)::int, split_part(v #>> '{}', '-', 3)::int) END
$$""",
    ),
}
