"""`read_profiles`: a CSV, JSON Lines or Parquet profile file, by its extension.

It turns a file into one typed polars frame per audience, with exactly the
schema's columns in schema order, plus the rows it had to skip (`RowError`, with
the row's line) and warnings about ignored columns.

All checks and conversions are vectorised over columns; Python only runs per
row to parse JSON Lines and to word the reasons of bad rows.
"""

from __future__ import annotations

from pathlib import Path

from zhida.errors import ProfileDataError
from zhida.profiles.readers.batch import (
    ALL_EXTENSIONS,
    CSV_EXTENSIONS,
    JSONL_EXTENSIONS,
    PARQUET_EXTENSIONS,
    ProfileBatch,
    audience_arg,
)
from zhida.profiles.readers.csv_input import read_csv
from zhida.profiles.readers.jsonl_input import read_jsonl
from zhida.profiles.readers.parquet_input import read_parquet
from zhida.profiles.readers.rows import to_batch
from zhida.profiles.schema import Audience, FieldType, SchemaSet


def list_fields(schemas: SchemaSet, forced: Audience | None) -> set[str]:
    """The list fields a JSON Lines file's rows may hold (their values are read as lists)."""
    return {
        fl.name
        for a in ([forced] if forced else list(Audience))
        for fl in schemas[a].fields.values()
        if fl.type is FieldType.LIST
    }


def read_profiles(
    path: str | Path, schemas: SchemaSet, kind: Audience | str | None = None
) -> ProfileBatch:
    """Read a CSV, JSON Lines or Parquet profile file (by extension) and validate it.

    `kind` forces the audience of every row (a row whose own `kind` differs is
    bad); without it the file's `kind` column decides per row. Raises
    ProfileDataError when the whole file cannot be used (unknown extension, not
    that format, no rows, no `id` column); bad rows are returned as errors.
    """
    p = Path(path)
    fname = str(path)
    forced = audience_arg(kind)
    ext = p.suffix.lower()
    if ext in CSV_EXTENSIONS:
        raw = read_csv(p, fname)
    elif ext in JSONL_EXTENSIONS:
        raw = read_jsonl(p, fname, list_fields(schemas, forced))
    elif ext in PARQUET_EXTENSIONS:
        raw = read_parquet(p, fname)
    else:
        shown = f"'{ext}'" if ext else "no extension"
        raise ProfileDataError(
            f"{fname}: unsupported profile file type ({shown}); use {ALL_EXTENSIONS}"
        )
    if raw.df.height == 0:
        raise ProfileDataError(
            f"{fname}: empty, no rows after the header"
            if ext in CSV_EXTENSIONS
            else f"{fname}: empty, no rows"
        )
    return to_batch(raw, schemas, forced, fname)
