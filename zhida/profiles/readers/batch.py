"""What reading profiles gives: `ProfileBatch`, the dtype of each field type, the file types."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from zhida.errors import ProfileDataError, RowError
from zhida.profiles.schema import Audience, FieldType

CSV_EXTENSIONS = (".csv",)
JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
PARQUET_EXTENSIONS = (".parquet", ".pq")
ALL_EXTENSIONS = ", ".join(CSV_EXTENSIONS + JSONL_EXTENSIONS + PARQUET_EXTENSIONS)

LIST_SEPARATOR = ";"  # between the items of a list field in CSV (a full-width ； is read too)


def polars_dtype(t: FieldType) -> pl.DataType:
    """The polars dtype a profile column of type `t` has in every frame we produce."""
    return {
        FieldType.INT: pl.Int64(),
        FieldType.NUMBER: pl.Float64(),
        FieldType.BOOL: pl.Boolean(),
        FieldType.DATE: pl.Date(),
        FieldType.STRING: pl.String(),
        FieldType.LIST: pl.List(pl.String()),
    }[t]


@dataclass
class ProfileBatch:
    """The result of reading one profile file.

    `frames` has one frame per audience (both audiences when the file's `kind`
    column decides, only the requested one when `kind` was given), each with
    exactly that audience's schema columns; null means missing. `errors` lists
    skipped rows in file order, `rows_read` counts every data row, good or bad.
    """

    frames: dict[Audience, pl.DataFrame]
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0

    @property
    def rows_ok(self) -> int:
        return sum(f.height for f in self.frames.values())


def audience_arg(kind: Audience | str | None) -> Audience | None:
    """A `kind=` argument as an Audience (None: the file's `kind` column decides)."""
    if kind is None or isinstance(kind, Audience):
        return kind
    try:
        return Audience(kind.strip().lower())
    except ValueError:
        raise ProfileDataError(
            f"unknown profile kind {kind!r}; expected enterprise or citizen"
        ) from None
